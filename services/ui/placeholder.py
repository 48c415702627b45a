"""Product images: an SVG placeholder drawn from the product id alone.

The same id always gives the same picture: its colours come from a hash of the id, and its
words (`cast-iron-skillet`) give the initials (`CIS`) and the accessible title.
"""

from __future__ import annotations

import colorsys
import hashlib
import re
from xml.sax.saxutils import escape

from emporium import models

PRODUCT_ID = re.compile(models.PRODUCT_ID)

WIDTH, HEIGHT = 400, 300
_WORD_SEPARATORS = re.compile(r"[-_]+")


def _hex(hue: float, lightness: float, saturation: float) -> str:
    red, green, blue = colorsys.hls_to_rgb(hue % 1.0, lightness, saturation)
    return f"#{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}"


def words(product_id: str) -> list[str]:
    return [word for word in _WORD_SEPARATORS.split(product_id) if word]


def initials(product_id: str) -> str:
    """Up to three letters, one per word: `chefs-knife-8in` -> `CK8`."""
    return "".join(word[0] for word in words(product_id)[:3]).upper()


def product_svg(product_id: str) -> str:
    """The placeholder of one product; `product_id` must match `PRODUCT_ID`."""
    digest = hashlib.sha256(product_id.encode()).digest()
    hue = int.from_bytes(digest[0:2], "big") / 65536
    accent = hue + 0.1 + digest[2] / 255 * 0.2
    # Light ground and shapes, dark ink: the initials keep a contrast of at least 8:1 with the
    # ground and 5:1 with the shapes, whatever the hues.
    ground = _hex(hue, 0.92, 0.55)
    shape = _hex(accent, 0.82, 0.5)
    ink = _hex(hue, 0.18, 0.6)
    cx = 120 + digest[3] % 160
    cy = 90 + digest[4] % 120
    radius = 70 + digest[5] % 50
    letters = initials(product_id)
    size = {1: 120, 2: 104}.get(len(letters), 88)
    title = escape(f"Placeholder image for {' '.join(words(product_id))}")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-labelledby="title">'
        f'<title id="title">{title}</title>'
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="{ground}"/>'
        f'<circle cx="{cx}" cy="{cy}" r="{radius}" fill="{shape}"/>'
        f'<rect x="{WIDTH - cx - 40}" y="{HEIGHT - cy - 30}" width="80" height="60" rx="12" '
        f'fill="{shape}" opacity="0.6"/>'
        f'<text x="{WIDTH // 2}" y="{HEIGHT // 2}" text-anchor="middle" '
        f'dominant-baseline="central" font-family="system-ui, sans-serif" '
        f'font-size="{size}" font-weight="700" fill="{ink}">{escape(letters)}</text>'
        "</svg>\n"
    )
