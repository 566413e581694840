"""Benchmark processes run one after another, and the statistics of their rounds (run_all.py, ab.py)."""

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def run(script: str, *args: str, env: dict[str, str] | None = None) -> dict | None:
  """Runs `benchmarks/script --json ...` from the repository root (`env` added to the environment);
  its last stdout line, parsed, or None if it failed."""
  cmd = [sys.executable, str(HERE / script), "--json", *args]
  done = subprocess.run(cmd, cwd=HERE.parent, capture_output=True, text=True, env={**os.environ, **(env or {})})
  if done.returncode:
    print(f"{' '.join(cmd[1:])} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
    return None
  return json.loads(done.stdout.strip().splitlines()[-1])


def quartiles(values: list[float]) -> tuple[float, float, float]:
  """(25th percentile, median, 75th percentile)."""
  if len(values) < 2:
    return (values[0],) * 3
  q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
  return q1, q2, q3


def cell(q: tuple[float, float, float], scale: float = 1e3, digits: int = 1) -> str:
  """'median [25th-75th]'."""
  return f"{q[1] * scale:.{digits}f} [{q[0] * scale:.{digits}f}-{q[2] * scale:.{digits}f}]"
