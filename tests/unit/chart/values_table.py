"""The parameter table of charts/emporium/README.md, made from values.yaml's comments.

    .venv/bin/python tests/unit/chart/values_table.py           # check: exit 1 with a diff
    .venv/bin/python tests/unit/chart/values_table.py --write   # rewrite the README's table

Every key of values.yaml has a comment on the lines right above it (no blank line between);
a key without one is an error. Each key is a row: its path, its default (none for a mapping
written as a block: its keys have rows of their own) and its comment. The table sits in the
README between the two marker lines below.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[3] / "charts" / "emporium"
START = "<!-- values-table:start (tests/unit/chart/values_table.py --write) -->"
END = "<!-- values-table:end -->"
KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+):(?P<rest>.*)$")


class UndocumentedError(ValueError):
    """A key of values.yaml has no comment above it, or a line the table cannot place."""


def rows(values_text: str) -> list[tuple[str, str, str]]:
    """(path, default, comment) of every key, in file order."""
    values = yaml.safe_load(values_text)
    comment: list[str] = []
    stack: list[tuple[int, str]] = []  # (indent, key) of the mappings the line is inside
    found = []
    for number, line in enumerate(values_text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            comment = []
            continue
        if stripped.startswith("#"):
            comment.append(stripped.lstrip("#").strip())
            continue
        match = KEY.match(line)
        if match is None:
            raise UndocumentedError(f"values.yaml:{number}: not a `key: value` line: {line!r}")
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = [key for _, key in stack] + [match["key"]]
        if not comment:
            raise UndocumentedError(f"values.yaml:{number}: {'.'.join(path)} has no comment")
        value: Any = values
        for key in path:
            value = value[key]
        block = isinstance(value, dict) and not match["rest"].strip()
        default = "" if block else f"`{json.dumps(value, separators=(', ', ': '))}`"
        found.append((".".join(path), default, " ".join(comment)))
        comment = []
        if block:
            stack.append((indent, match["key"]))
    return found


def table(values_text: str) -> str:
    lines = ["| key | default | what |", "|---|---|---|"]
    for path, default, what in rows(values_text):
        cells = [f"`{path}`", default, what]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def with_table(readme: str, values_text: str) -> str:
    """The README with its table between the markers made anew."""
    head, start, rest = readme.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise UndocumentedError(f"the README lacks the markers {START!r} and {END!r}")
    return f"{head}{START}\n{table(values_text)}\n{END}{tail}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the README's table")
    parser.add_argument("--chart", type=Path, default=CHART, help="the chart's folder")
    args = parser.parse_args(argv)
    readme_path = args.chart / "README.md"
    readme = readme_path.read_text(encoding="utf-8")
    try:
        expected = with_table(readme, (args.chart / "values.yaml").read_text(encoding="utf-8"))
    except UndocumentedError as error:
        print(f"values_table: {error}", file=sys.stderr)
        return 1
    if expected == readme:
        return 0
    if args.write:
        readme_path.write_text(expected, encoding="utf-8")
        print(f"values_table: wrote the table of {readme_path}", file=sys.stderr)
        return 0
    diff = difflib.unified_diff(
        readme.splitlines(), expected.splitlines(), "README.md", "from values.yaml", lineterm=""
    )
    print("\n".join(diff), file=sys.stderr)
    print("values_table: the README's table is stale; run with --write", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
