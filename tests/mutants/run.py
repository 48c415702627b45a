"""`make mutants`: mutation testing of the modules where a silent bug costs money or lets in.

For each module of tests/mutants/modules.toml, cosmic-ray mutates the source file in place, one
mutant at a time, and runs that module's unit tests against it. A mutant the tests do not notice
(a survivor) must either be killed by a new test or be listed in tests/mutants/equivalents.toml
with the reason it changes no behaviour. Each entry is keyed by module path, function, operator
and the mutated line's text (never a line number, which shifts with every edit).

Prints the score per module (killed / total, %) and each unexplained survivor with its diff; exits
1 when there is one. Usage: python tests/mutants/run.py [MODULE_NAME ...] (default: all modules).
"""

from __future__ import annotations

import ast
import os
import shlex
import subprocess
import sys
import sysconfig
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from cosmic_ray.work_db import WorkDB, use_db  # type: ignore[import-untyped]
from cosmic_ray.work_item import WorkerOutcome, WorkResult  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "tests" / "mutants"
WORK = ROOT / ".mutants"
PYTHON = sys.executable
COSMIC_RAY = str(Path(PYTHON).with_name("cosmic-ray"))

# The operators kept, and why the others are left out: cosmic-ray replaces each binary and
# comparison operator with every other one (12 and 7 mutants a site), and most of those are
# duplicates of the same fault ("this arithmetic or comparison is wrong"). We keep one swap per
# arithmetic operator, and for comparisons the negation and the off-by-one boundary, which are
# the faults that let a wrong price or a wrong check through. VariableInserter/Replacer and the
# bitwise unary operators make noise mutants (rebinding names at random) out of every line.
KEPT_BINARY = {"Add_Sub", "Sub_Add", "Mul_Div", "Div_Mul", "FloorDiv_Mul", "Mod_Mul"}
KEPT_COMPARISON = {
    "Eq_NotEq", "NotEq_Eq", "Lt_LtE", "Lt_GtE", "LtE_Lt", "LtE_Gt", "Gt_GtE", "Gt_LtE",
    "GtE_Gt", "GtE_Lt", "Is_IsNot", "IsNot_Is",
}  # fmt: skip
DROPPED = {"core/VariableInserter", "core/VariableReplacer"}


def kept(operator: str) -> bool:
    if operator in DROPPED:
        return False
    if operator.startswith("core/ReplaceBinaryOperator_"):
        return operator.removeprefix("core/ReplaceBinaryOperator_") in KEPT_BINARY
    if operator.startswith("core/ReplaceComparisonOperator_"):
        return operator.removeprefix("core/ReplaceComparisonOperator_") in KEPT_COMPARISON
    if operator.startswith("core/ReplaceUnaryOperator_"):
        return operator.endswith(("_Delete_Not", "_USub_UAdd"))
    return True


@dataclass(frozen=True)
class Module:
    name: str
    path: str
    functions: tuple[str, ...]
    tests: tuple[str, ...]


@dataclass(frozen=True)
class Mutant:
    module: str
    function: str
    operator: str
    line: str
    diff: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.module, self.function, self.operator, self.line)


def load_modules() -> list[Module]:
    data = tomllib.loads((HERE / "modules.toml").read_text())
    return [
        Module(m["name"], m["path"], tuple(m.get("functions", [])), tuple(m["tests"]))
        for m in data["module"]
    ]


def load_equivalents() -> dict[tuple[str, str, str, str], str]:
    data = tomllib.loads((HERE / "equivalents.toml").read_text())
    equivalents = {}
    for entry in data.get("equivalent", []):
        missing = {"module", "function", "operator", "line", "reason"} - entry.keys()
        if missing:
            sys.exit(f"tests/mutants/equivalents.toml: an entry lacks {', '.join(sorted(missing))}")
        key = (entry["module"], entry["function"], entry["operator"], entry["line"].strip())
        equivalents[key] = entry["reason"]
    return equivalents


def enclosing_functions(source: str) -> list[tuple[int, int, str]]:
    """(first line, last line, qualified name) of every function, innermost last."""
    spans: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                spans.append((first, child.end_lineno or child.lineno, name))
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return spans


def function_at(spans: list[tuple[int, int, str]], line: int) -> str:
    inside = [name for first, last, name in spans if first <= line <= last]
    return max(inside, key=len) if inside else "<module>"


def in_scope(function: str, wanted: tuple[str, ...]) -> bool:
    return not wanted or any(function == w or function.startswith(w + ".") for w in wanted)


def dependencies() -> list[str]:
    """The folders of the installed packages."""
    return sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})


def run(command: list[str]) -> None:
    print("+", shlex.join(command), flush=True)
    done = subprocess.run(command, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {shlex.join(command)}")


def mutate(module: Module, source: str) -> tuple[int, list[Mutant], float]:
    """Runs the module's mutants; (mutants tested, survivors, seconds)."""
    WORK.mkdir(exist_ok=True)
    slug = module.name.replace(" ", "-")
    config, session = WORK / f"{slug}.toml", WORK / f"{slug}.sqlite"
    session.unlink(missing_ok=True)
    # Plain asserts: pytest would otherwise rewrite (and, without bytecode, recompile) the test
    # files and every module of its plugins for each mutant; a failing assert fails all the same.
    test_command = [
        PYTHON, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "pytest_socket",
        "--assert=plain", *module.tests,
    ]  # fmt: skip
    config.write_text(
        "[cosmic-ray]\n"
        f"module-path = {module.path!r}\n"
        "timeout = 300.0\n"
        "excluded-modules = []\n"
        f"test-command = {shlex.join(test_command)!r}\n"
        "[cosmic-ray.distributor]\n"
        'name = "local"\n'
    )
    run([COSMIC_RAY, "init", str(config), str(session)])
    spans = enclosing_functions(source)
    lines = source.splitlines()
    with use_db(str(session), WorkDB.Mode.open) as db:
        skipped = [
            item.job_id
            for item in db.work_items
            if not kept(item.mutations[0].operator_name)
            or not in_scope(function_at(spans, item.mutations[0].start_pos[0]), module.functions)
        ]
        db.set_multiple_results(skipped, WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
        total = db.num_work_items - len(skipped)
    print(f"{module.name}: {total} mutants ({len(skipped)} out of scope or operator)", flush=True)
    started = time.monotonic()
    run([COSMIC_RAY, "exec", str(config), str(session)])
    seconds = time.monotonic() - started
    survivors = []
    tested = 0
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            if result.worker_outcome == WorkerOutcome.SKIPPED:
                continue
            if result.worker_outcome != WorkerOutcome.NORMAL:
                raise SystemExit(
                    f"{module.name}: mutant {item.job_id} failed to run:\n{result.output}"
                )
            tested += 1
            if result.is_killed:
                continue
            spec = item.mutations[0]
            line = spec.start_pos[0]
            survivors.append(
                Mutant(module.path, function_at(spans, line), spec.operator_name,
                       lines[line - 1].strip(), result.diff or "")
            )  # fmt: skip
    return tested, survivors, seconds


def main(argv: list[str]) -> int:
    modules = load_modules()
    if argv:
        unknown = set(argv) - {m.name for m in modules}
        if unknown:
            sys.exit(f"unknown module(s) {sorted(unknown)}; tests/mutants/modules.toml lists them")
        modules = [m for m in modules if m.name in argv]
    equivalents = load_equivalents()
    # No bytecode of ours is written: a mutant and its restored file can share a size and an
    # mtime second, and Python would then run the mutant's bytecode. The dependencies' bytecode
    # is written once here (uv installs none), or every mutant's pytest would compile boto3,
    # moto and Flask again from source: about a third of a mutant's time.
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    run([PYTHON, "-m", "compileall", "-q", "-j", "0", *dependencies()])
    # The installed pytest plugins (locust's, schemathesis', hypothesis', pytest-cov, anyio) are
    # used by no module's unit tests, and importing them (locust brings gevent) costs each
    # mutant's run about two seconds of CPU. pytest-socket, which the unit tests' loopback-only
    # rule needs, is loaded by name in the test command.
    os.environ.setdefault("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    rows, unexplained = [], []
    for module in modules:
        path = ROOT / module.path
        original = path.read_bytes()
        try:
            tested, survivors, seconds = mutate(module, original.decode())
        finally:
            # cosmic-ray restores each file itself; this covers a crash or Ctrl-C mid-mutant.
            if path.read_bytes() != original:
                path.write_bytes(original)
                print(f"restored {module.path}", flush=True)
        explained = [s for s in survivors if s.key in equivalents]
        left = [s for s in survivors if s.key not in equivalents]
        unexplained += left
        killed = tested - len(survivors)
        rows.append((module.name, killed, len(explained), tested, seconds))
    print()
    print("| module | killed | equivalent | total | score | time |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, killed, same, tested, seconds in rows:
        score = 100 * (killed + same) / tested if tested else 100.0
        print(f"| {name} | {killed} | {same} | {tested} | {score:.1f}% | {seconds:.0f} s |")
    for mutant in unexplained:
        print(f"\nSURVIVED {mutant.module} {mutant.function} {mutant.operator}: {mutant.line}")
        print(mutant.diff)
    if unexplained:
        print(
            f"\n{len(unexplained)} unexplained survivor(s): kill each with a test, or list it in "
            "tests/mutants/equivalents.toml (module, function, operator, line, reason)."
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
