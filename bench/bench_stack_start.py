"""How long does ``make run`` take until it says ``Ready.``?

``python -m bench.bench_stack_start [--runs 3] [--fresh-dev] [--no-bytecode]``

Runs ``python -m ticketing.cli run`` (what ``make run`` runs once the virtualenv is synced) in the
current directory, times it from the start until its ``Ready.`` line, then stops it with SIGINT,
``--runs`` times. Warm (the default) keeps ``.dev`` and the bytecode caches between runs, as a
second ``make run`` finds them. ``--fresh-dev`` deletes ``.dev`` before each run (a new cluster,
as on a fresh clone); ``--no-bytecode`` points ``PYTHONPYCACHEPREFIX`` at a new empty directory
for each run, so that every process compiles every module it imports from source, as the first
run after an install without compiled bytecode did. Both together: a cold start.
Run it in a private network namespace so that the stack's ports are free.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

READY = "Ready."
TIMEOUT = 180.0


def time_to_ready(env: dict[str, str] | None = None) -> float:
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ticketing.cli", "run"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if line.startswith(READY):
                return time.monotonic() - started
            if time.monotonic() - started > TIMEOUT:
                break
        raise SystemExit(f"no {READY!r} line from `ticketing run` (status {proc.poll()})")
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fresh-dev", action="store_true", help="delete .dev before each run")
    parser.add_argument("--no-bytecode", action="store_true", help="no compiled bytecode")
    args = parser.parse_args()
    root = Path.cwd()
    times = []
    if not (args.fresh_dev or args.no_bytecode):
        time_to_ready()  # the first run creates the cluster and the bytecode caches
    for _ in range(args.runs):
        if args.fresh_dev:
            shutil.rmtree(root / ".dev", ignore_errors=True)
        with tempfile.TemporaryDirectory(prefix="bench-pycache-") as prefix:
            env = {**os.environ, "PYTHONPYCACHEPREFIX": prefix} if args.no_bytecode else None
            times.append(time_to_ready(env))
    kind = (
        ", ".join(
            [
                name
                for name, on in (("fresh .dev", args.fresh_dev), ("no bytecode", args.no_bytecode))
                if on
            ]
        )
        or "warm"
    )
    print(
        f"{kind}: `ticketing run` to Ready.: median {statistics.median(times):.2f} s "
        f"(min {min(times):.2f}, max {max(times):.2f}, {len(times)} runs)"
    )


if __name__ == "__main__":
    main()
