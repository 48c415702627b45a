"""Every third-party module a test file imports comes from a distribution pyproject.toml declares
(in the project's dependencies or one of its dependency groups, an extra of a declared one
included), so that no test works only because something else happens to pull its import in."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions, requires
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"

# Imported by a file that is not run with the project's environment: the benchmark of the web
# libraries installs them for its own run (`uv run --with ...`, its docstring).
INSTALLED_BY_ITS_RUN = {
    "tests/bench/web_layer.py": {"flask_openapi3", "spectree", "apiflask"},
}
# Stub-only modules that exist for the type checker (under TYPE_CHECKING), never at run time.
TYPE_CHECKER_ONLY = {"_typeshed"}

REQUIREMENT = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions() -> set[str]:
    """The distributions pyproject.toml declares, and those their declared extras bring."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    lines: list[str] = list(project["project"]["dependencies"])
    for group in project["dependency-groups"].values():
        lines += [entry for entry in group if isinstance(entry, str)]
    declared: set[str] = set()
    for line in lines:
        match = REQUIREMENT.match(line)
        assert match, line
        name, extras = match[1], {e.strip() for e in (match[2] or "").split(",") if e.strip()}
        declared.add(normalized(name))
        for requirement in requires(name) or []:
            marker = EXTRA_MARKER.search(requirement)
            if marker and marker[1] in extras:
                inner = REQUIREMENT.match(requirement)
                assert inner, requirement
                declared.add(normalized(inner[1]))
    return declared


def first_party() -> set[str]:
    """Our own import names: the services' packages, the deploy scripts, the test modules."""
    names = {path.parent.name for path in (ROOT / "services").glob("*/__init__.py")}
    names |= {"deploy", "tests"}
    names |= {path.stem for path in TESTS.rglob("*.py")}
    return names


def imported_modules(path: Path) -> set[str]:
    """The top-level names of the absolute imports in `path`, wherever they stand in it."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def undeclared_imports(tests: Path = TESTS) -> dict[str, set[str]]:
    """Per test file, its third-party imports of distributions pyproject.toml does not declare."""
    declared = declared_distributions()
    ours = first_party() | set(sys.stdlib_module_names) | {"__future__"} | TYPE_CHECKER_ONLY
    providers = packages_distributions()
    found: dict[str, set[str]] = {}
    for path in sorted(tests.rglob("*.py")):
        relative = path.relative_to(tests.parent).as_posix()
        for module in imported_modules(path) - ours - INSTALLED_BY_ITS_RUN.get(relative, set()):
            # A namespace package (opentelemetry) is shared by several distributions: one of
            # them declared is enough.
            if not {normalized(d) for d in providers.get(module, [])} & declared:
                found.setdefault(relative, set()).add(module)
    return found


def test_every_third_party_import_under_tests_is_declared() -> None:
    assert undeclared_imports() == {}


def test_an_import_that_only_a_dependency_brings_is_reported(tmp_path: Path) -> None:
    declared = declared_distributions()
    brought = sorted(
        module
        for module, dists in packages_distributions().items()
        if module.isidentifier()
        and not module.startswith("_")
        and module not in first_party()
        and not {normalized(d) for d in dists} & declared
    )
    assert brought, "every installed distribution is declared: nothing to check the check with"
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_sample.py").write_text(
        f"import json\nimport pytest\nfrom {brought[0]} import thing\n"
    )
    assert undeclared_imports(tmp_path / "tests") == {"tests/test_sample.py": {brought[0]}}
