"""Shared test setup: quiet TensorFlow, keep it off accelerators, repo paths."""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = f"{REPO / 'configs' / 'moving_mnist.py'}:tiny"


def run_cli(*args: str, env: dict[str, str] | None = None, check: bool = True, timeout: float = 900):
  """Runs `python -m videogan.main ARGS` in a fresh process; returns the CompletedProcess."""
  import subprocess

  full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
  proc = subprocess.run(
      [sys.executable, "-m", "videogan.main", *args], cwd=REPO, env=full_env,
      capture_output=True, text=True, timeout=timeout,
  )
  if check and proc.returncode != 0:
    raise AssertionError(f"videogan.main {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-6000:]}")
  return proc


@pytest.fixture(scope="session")
def tiny_config():
  sys.path.insert(0, str(REPO / "configs"))
  try:
    import moving_mnist
  finally:
    sys.path.pop(0)
  return lambda: moving_mnist.get_config("tiny")
