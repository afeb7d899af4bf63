"""``python -m bench [--json] [NAME ...]``: every benchmark module, one table.

A benchmark module is any ``bench/<name>.py`` that defines ``run() -> list[dict]``. Each
runs in its own subprocess, one after another (so they never compete for the CPU), under a
timeout; a module that fails or times out becomes one row saying so, and the others still
report. Modules are found by reading their source, so discovery imports nothing heavy.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT, table

BENCH_DIR = Path(__file__).resolve().parent
NOT_BENCHMARKS = {"__init__", "__main__", "common"}
TIMEOUT = 300  # seconds per module; each is meant to finish well under two minutes
_MARK = "BENCH_ROWS "
_RUNNER = (
    "import json, sys\n"
    "from importlib import import_module\n"
    "rows = import_module('bench.' + sys.argv[1]).run()\n"
    f"print({_MARK!r} + json.dumps(rows))\n"
)


def discover() -> list[str]:
    """Names of the modules in bench/ that define a top-level ``run()``."""
    names = []
    for path in sorted(BENCH_DIR.glob("*.py")):
        if path.stem in NOT_BENCHMARKS:
            continue
        if re.search(r"^def run\(", path.read_text(), re.MULTILINE):
            names.append(path.stem)
    return names


def _failed(name: str, reason: str) -> list[dict]:
    return [{"benchmark": f"{name}: not measured ({reason})", "module": name}]


def run_module(name: str, timeout: float = TIMEOUT) -> list[dict]:
    """The rows of one module, run in a fresh interpreter; a failure becomes one row."""
    started = time.monotonic()
    try:
        result = subprocess.run(
            [sys.executable, "-c", _RUNNER, name],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return _failed(name, f"timed out after {timeout:.0f} s")
    sys.stderr.write(result.stderr)
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith(_MARK)), None)
    if result.returncode != 0 or line is None:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return _failed(name, f"exit {result.returncode}: {last[:120]}")
    rows = json.loads(line.removeprefix(_MARK))
    print(f"bench: {name} took {time.monotonic() - started:.0f} s", file=sys.stderr)
    return [{**r, "module": name} for r in rows]


def main(argv: list[str]) -> int:
    as_json = "--json" in argv
    wanted = [a for a in argv if not a.startswith("-")]
    names = [n for n in discover() if not wanted or n in wanted]
    rows = []
    for name in names:
        print(f"bench: running {name} ...", file=sys.stderr, flush=True)
        rows += run_module(name)
    print(json.dumps(rows, indent=2) if as_json else table(rows))
    return 0 if all("ours" in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
