"""Shared test setup: quiet TensorFlow, keep it off accelerators, repo paths."""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# In-process tests see 8 fake CPU devices (sharding tests build meshes over
# them; unsharded jits use the first). CLI subprocesses get 1 unless a test
# asks for more.
os.environ["JAX_PLATFORMS"] = "cpu"
os.environ["JAX_NUM_CPU_DEVICES"] = "8"

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = f"{REPO / 'configs' / 'moving_mnist.py'}:tiny"


def run_cli(*args: str, env: dict[str, str] | None = None, check: bool = True, timeout: float = 900):
  """Runs `python -m videogan.main ARGS` in a fresh process; returns the CompletedProcess."""
  import subprocess

  full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "JAX_NUM_CPU_DEVICES": "1", **(env or {})}
  proc = subprocess.run(
      [sys.executable, "-m", "videogan.main", *args], cwd=REPO, env=full_env,
      capture_output=True, text=True, timeout=timeout,
  )
  if check and proc.returncode != 0:
    raise AssertionError(f"videogan.main {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-6000:]}")
  return proc


def state_arrays(workdir, step: int) -> dict:
  """The saved TrainState of `workdir` at `step` as nested numpy arrays."""
  import jax
  import numpy as np
  import orbax.checkpoint as ocp

  path = workdir / "checkpoints" / str(step) / "state"
  checkpointer = ocp.PyTreeCheckpointer()
  metadata = checkpointer.metadata(path).item_metadata.tree
  # Read as host numpy arrays, whatever devices wrote them.
  restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), metadata)
  return checkpointer.restore(path, args=ocp.args.PyTreeRestore(restore_args=restore_args))


def leaves_with_paths(tree, prefix=""):
  """(path, numpy array) for every leaf of a nested dict."""
  import numpy as np

  if isinstance(tree, dict):
    for k, v in tree.items():
      yield from leaves_with_paths(v, f"{prefix}/{k}")
  else:
    yield prefix, np.asarray(tree)


@pytest.fixture(scope="session")
def tiny_config():
  sys.path.insert(0, str(REPO / "configs"))
  try:
    import moving_mnist
  finally:
    sys.path.pop(0)
  return lambda variant="tiny": moving_mnist.get_config(variant)
