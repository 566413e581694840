"""The code keeps its shape: the layer contract (import-linter), ruff, and modules of one idea each."""

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

BIN = Path(sys.executable).parent  # The venv's scripts, whether or not the venv is activated.


def test_imports_never_run_back_up_the_layers():
  proc = subprocess.run([str(BIN / "lint-imports")], cwd=REPO, capture_output=True, text=True)
  assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
  assert "1 kept, 0 broken" in proc.stdout


def test_ruff_passes():
  proc = subprocess.run([str(BIN / "ruff"), "check", "videogan", "tests", "benchmarks", "configs"], cwd=REPO,
                        capture_output=True, text=True)
  assert proc.returncode == 0, proc.stdout[-4000:]


def test_no_module_holds_two_ideas():
  """A module over 400 lines is a sign it holds two (STYLE.md 5)."""
  long = {str(p.relative_to(REPO)): n for p in (REPO / "videogan").rglob("*.py")
          if (n := len(p.read_text().splitlines())) > 400}
  assert not long, long
