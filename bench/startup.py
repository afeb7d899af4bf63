"""CLI start-up: wall time of ``onetrip --help``, ``users list``, ``sign --help`` and a real
``sign`` of a one-page PDF, each beside ``python -c pass`` (the interpreter's own start, the
floor no command can go under).

Each command runs as an operator runs it, a fresh process of the installed ``onetrip``
script against a prepared data directory (schema, one citizen, one department with its
seal), and the best of several runs is reported, so a neighbour's CPU burst does not count.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ONETRIP, ROOT

RUNS = 5
SIGN_RUNS = 3  # each real signature adds a document to the data directory
_PASSWORD = "violet kettle orbits a quiet harbour 83\n"
_PDF = "from signing.pdfs import make_pdf; import sys; open(sys.argv[1], 'wb').write(make_pdf())"


def _best(cmd: list[str], env: dict, runs: int = RUNS) -> float:
    """Seconds of the fastest of ``runs`` runs of ``cmd`` (each must succeed)."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, check=True, timeout=120)
        best = min(best, time.perf_counter() - started)
    return best


def _prepare(data: Path, env: dict) -> Path:
    """A data directory with its schema, a citizen and a department; a PDF to sign."""

    def cli(*args: str, stdin: str | None = None) -> None:
        subprocess.run(
            [ONETRIP, *args], env=env, input=stdin, text=True, capture_output=True, check=True
        )

    cli("users", "create", "alice", "--name", "Alice", "--email", "a@example.org", stdin=_PASSWORD)
    cli("departments", "create", "BENCH", "--name", "基准局", "--name-en", "Bench Office")
    pdf = data / "in.pdf"
    subprocess.run([sys.executable, "-c", _PDF, str(pdf)], env=env, cwd=ROOT, check=True)
    return pdf


def run() -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="onetrip-startup-") as tmp:
        data = Path(tmp)
        env = {
            **os.environ,
            "ONETRIP_DATA_DIR": str(data),
            "ONETRIP_ISSUER": "http://127.0.0.1:8000",
            "ONETRIP_CONFIG": "",
            "PYTHONPATH": str(ROOT),
        }
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        pdf = _prepare(data, env)
        floor = _best([sys.executable, "-c", "pass"], env)
        sign = ["sign", str(pdf), "-o", str(data / "out.pdf"), "--department", "BENCH"]
        commands = {
            "onetrip --help": (["--help"], RUNS),
            "onetrip users list": (["users", "list"], RUNS),
            "onetrip sign --help": (["sign", "--help"], RUNS),
            "onetrip sign of a 1-page PDF (B-B)": ([*sign, "--level", "B-B"], SIGN_RUNS),
        }
        rows = []
        for name, (args, runs) in commands.items():
            seconds = _best([ONETRIP, *args], env, runs)
            rows.append(
                {
                    "benchmark": f"start-up: {name}, best of {runs}, wall",
                    "ours": round(seconds * 1000),
                    "unit": "ms",
                    "peer": round(floor * 1000),
                    "peer_name": "python -c pass",
                    "ratio": round(seconds / floor, 1),
                }
            )
        return rows


if __name__ == "__main__":
    from bench.common import table

    print(table(run()))
