"""Where a cached catalog read spends its time: py-spy samples one catalog worker under wrk.

    .venv/bin/python tests/bench/profile_read.py [--seconds 15] [--path /api/catalog/...]
    CATALOG_NEAR_CACHE_SECONDS=0 .venv/bin/python tests/bench/profile_read.py   (near cache off)
    .venv/bin/python tests/bench/profile_read.py --gil   (only the thread holding the GIL: CPU)
    (py-spy from PATH, else through `uvx py-spy`; the profiler is not a dependency of the store)

Starts the moto server, redis-server and catalog under `emporium.gunicorn_conf` with one worker
(GUNICORN_THREADS threads, output to /dev/null; the catalog's variables come from the
environment), warms the cache, then drives the read with wrk
while py-spy samples the worker (idle threads left out: what is sampled is work). Prints the
functions with the most samples of their own (self) and the most samples under them
(inclusive), as percentages of all samples, and writes the raw stacks (collapsed format) and a
speedscope profile next to each other in --out.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.catalog_read import seeded_catalog_env  # noqa: E402

from devstack.processes import Group, free_port  # noqa: E402
from devstack.stack import (  # noqa: E402
    start_gunicorn,
)


def py_spy() -> list[str]:
    found = shutil.which("py-spy")
    if found:
        return [found]
    uvx = shutil.which("uvx") or str(ROOT / ".tools/bin/uvx")
    return [uvx, "py-spy"]


def worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    if len(children) != 1:
        raise RuntimeError(f"expected one gunicorn worker under {master}, found {children}")
    return int(children[0])


def summarise(collapsed: Path, top: int) -> None:
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        total += count
        if frames:
            own[frames[-1]] += count
        for frame in set(frames):
            under[frame] += count
    print(f"\n{total} samples")
    for title, counter in (("self", own), ("inclusive", under)):
        print(f"\ntop {top} by {title} samples:")
        for frame, count in counter.most_common(top):
            print(f"  {100 * count / total:5.1f}%  {frame}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--path", default="/api/catalog/products/cast-iron-skillet")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--gil",
        action="store_true",
        help="sample only the thread holding the GIL: where the worker's CPU goes, without the"
        " threads that wait for it",
    )
    parser.add_argument("--out", type=Path, help="a folder for the profiles (default: a new one)")
    args = parser.parse_args()
    args.out = args.out or Path(tempfile.mkdtemp(prefix="emporium-profile-"))
    args.out.mkdir(parents=True, exist_ok=True)

    with Group() as group:
        catalog_port = free_port()
        base = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "WEB_CONCURRENCY": "1",
            "GUNICORN_THREADS": os.environ.get("GUNICORN_THREADS", "4"),
            "MAX_REQUESTS": "0",
        }
        env = seeded_catalog_env(group, base)
        catalog = start_gunicorn(
            group, "catalog", "catalog.app:create_app()", catalog_port, env, log_path=os.devnull
        )
        url = f"http://127.0.0.1:{catalog_port}{args.path}"
        wrk = ["wrk", "-t1", f"-c{args.connections}", "--latency", url]
        subprocess.run([*wrk, "-d2s"], check=True, capture_output=True)  # warm the cache
        pid = worker_pid(catalog.pid)
        load = subprocess.Popen([*wrk, f"-d{args.seconds + 2}s"], stdout=subprocess.PIPE, text=True)
        for fmt, name in (("raw", "stacks.txt"), ("speedscope", "profile.speedscope.json")):
            subprocess.run(
                [
                    *py_spy(),
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(args.seconds // 2),
                    "--rate",
                    "250",
                    "--nonblocking",
                    *(["--gil"] if args.gil else []),
                    "--nolineno",
                    "--format",
                    fmt,
                    "--output",
                    str(args.out / name),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        print(load.communicate()[0])
    print(f"profiles in {args.out}")
    summarise(args.out / "stacks.txt", args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
