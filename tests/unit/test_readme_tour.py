"""The README's newcomer's tour points at files that exist, at lines that exist in them, and
stays a read of about ten minutes."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TITLE = "### A newcomer's tour (ten minutes)\n"
# About ten minutes of reading code that is new to you.
MOST_LINES = 1_200

PATH = re.compile(r"`([\w./-]+\.(?:py|tpl))`")
RANGE = re.compile(r"lines (\d+)-(\d+)(?: and (\d+)-(\d+))?")
FIRST = re.compile(r"the first (\d+) lines")


def tour(readme: str) -> tuple[str, str]:
    """The tour's numbered list, and the rest of its section (the pointers for later)."""
    section = readme.split(TITLE, 1)[1].split("\n## ", 1)[0]
    items = re.findall(r"^\d+\. .*?(?=^\d+\. |^\s*$)", section, flags=re.MULTILINE | re.DOTALL)
    return " ".join(" ".join(items).split()), section


def reading(items: str) -> list[tuple[str, list[tuple[int, int]]]]:
    """Each file the list names with the line ranges it asks to read ([] for the whole file):
    the ranges are those said between the file's name and the next one's."""
    names = list(PATH.finditer(items))
    found = []
    for number, name in enumerate(names):
        end = names[number + 1].start() if number + 1 < len(names) else len(items)
        said = items[name.end() : end]
        ranges: list[tuple[int, int]] = []
        for match in RANGE.finditer(said):
            bounds = [int(n) for n in match.groups() if n is not None]
            ranges += list(zip(bounds[::2], bounds[1::2], strict=True))
        ranges += [(1, int(match[1])) for match in FIRST.finditer(said)]
        found.append((name[1], ranges))
    return found


def lines_of(path: str) -> int:
    return len((ROOT / path).read_text().splitlines())


def test_every_path_the_tour_names_exists() -> None:
    _, section = tour((ROOT / "README.md").read_text())
    named = PATH.findall(section)
    assert len(named) >= 6
    assert [path for path in named if not (ROOT / path).is_file()] == []


def test_every_line_range_is_in_its_file() -> None:
    items, _ = tour((ROOT / "README.md").read_text())
    outside = [
        (path, first, last)
        for path, ranges in reading(items)
        for first, last in ranges
        if not 1 <= first <= last <= lines_of(path)
    ]
    assert outside == []


def test_the_tour_reads_in_about_ten_minutes() -> None:
    items, _ = tour((ROOT / "README.md").read_text())
    total = sum(
        sum(last - first + 1 for first, last in ranges) if ranges else lines_of(path)
        for path, ranges in reading(items)
    )
    assert 0 < total <= MOST_LINES


def test_the_ranges_are_read_from_what_the_list_says() -> None:
    items = (
        "1. `a.py`, lines 1-20, then `b.py`: all of it. 2. `c.py`, lines 1-17 and 149-213. "
        "3. `d.py`, the first 132 lines."
    )
    assert reading(items) == [
        ("a.py", [(1, 20)]),
        ("b.py", []),
        ("c.py", [(1, 17), (149, 213)]),
        ("d.py", [(1, 132)]),
    ]
