"""Shared test setup: quiet TensorFlow, keep it off accelerators, repo paths."""

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# In-process tests see 8 fake CPU devices (sharding tests build meshes over
# them; unsharded jits use the first). CLI subprocesses get 1 unless a test
# asks for more.
os.environ["JAX_PLATFORMS"] = "cpu"
os.environ["JAX_NUM_CPU_DEVICES"] = "8"
# One persistent XLA compilation cache for this test session, fresh each time:
# the CLI tests start ~40 processes that compile the same tiny train step, and
# a cache hit skips XLA's compile (the step's HLO, devices and flags are the
# key, so a hit runs the same executable). pytest-xdist workers and CLI
# subprocesses inherit it; the process that made it removes it.
if "VIDEOGAN_TEST_XLA_CACHE" not in os.environ:
  os.environ["VIDEOGAN_TEST_XLA_CACHE"] = tempfile.mkdtemp(prefix="videogan-test-xla-cache-")
  atexit.register(shutil.rmtree, os.environ["VIDEOGAN_TEST_XLA_CACHE"], ignore_errors=True)
os.environ["JAX_COMPILATION_CACHE_DIR"] = os.environ["VIDEOGAN_TEST_XLA_CACHE"]
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0.2"
# The suite's time is mostly XLA:CPU compiling, and that is mostly LLVM (the
# tiny train step: 1.0 s of HLO passes, 12.7 s of LLVM codegen). Two flags
# halve it: LLVM at -O1 instead of -O2, and XLA:CPU's older loop emitters
# instead of its MLIR fusion emitters (`xla_cpu_use_fusion_emitters=false`).
# The tiny train step's `lower(...).compile()`, three interleaved pairs of
# runs: -O1 alone 9.4-10.6 s, both flags 5.1-6.1 s; its step time is
# unchanged (26-31 ms). Results differ from the defaults' by float32
# rounding: -O1 moves the tiny model's parameters after 3 steps by <= 6e-8;
# the loop emitters sum in another order (a float32 mean of 2304 values moved
# by 4e-6, test_enhancer). Every process of the session, CLI subprocesses
# included, compiles with the same flags.
for flag in ("--xla_backend_optimization_level=1", "--xla_cpu_use_fusion_emitters=false"):
  if flag.split("=")[0] not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = f"{REPO / 'configs' / 'moving_mnist.py'}:tiny"


def run_cli(*args: str, env: dict[str, str] | None = None, check: bool = True, timeout: float = 900):
  """Runs `python -m videogan.main ARGS` in a fresh process (`env`: added; a None value unsets); the CompletedProcess."""
  import subprocess

  full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "JAX_NUM_CPU_DEVICES": "1", **(env or {})}
  full_env = {k: v for k, v in full_env.items() if v is not None}
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


def load_config(spec: str):
  """The config of `spec` as the CLI's --config reads it: "configs/NAME.py[:VARIANT]" (relative to the repo)."""
  import importlib.util

  path, _, variant = spec.partition(":")
  module_spec = importlib.util.spec_from_file_location(Path(path).stem, REPO / path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(variant or None)


@pytest.fixture(scope="session")
def tiny_config():
  return lambda variant="tiny": load_config(f"configs/moving_mnist.py:{variant}")


# pytest-xdist (`-n auto --dist loadfile` in pyproject.toml) runs whole files
# on a few workers, each taking the next file in this order when it is nearly
# done with its own. Slowest first, so that the workers finish together: the
# files' summed test times in one CI run on a 2-core VM, in seconds, are in
# the comments. (`--no-loadscope-reorder` keeps this order; by default xdist
# would sort the files by their number of tests and leave the one-test drills
# for last.)
SLOWEST_FIRST = (
    "test_reliability.py",  # 286
    "test_readme_commands.py",  # 253
    "test_fvd.py",  # 208
    "test_sharding.py",  # 184
    "test_multiprocess.py",  # 155 + 48 (the SIGTERM drill)
    "test_gcs.py",  # 91 (a run against the loopback GCS)
    "test_package.py",  # ~60 (a wheel, a tiny run, sample, eval)
    "test_conditioning.py",  # 152
    "test_enhancer.py",  # 119
    "test_digits.py",  # ~60-100 (trains the digit classifier once)
    "test_train_step.py",  # 115
    "test_notebook.py",  # 101
    "test_cli.py",  # 98
    "test_video_data.py",  # 55
    "test_models.py",  # 46
    "test_large_configs.py",  # 42
    "test_benchmarks.py",  # ~30 (added since; one subprocess)
    "test_layers.py",  # 18
)


def pytest_collection_modifyitems(items):
  rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
  items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # Stable: a file keeps its own order.


def pytest_xdist_auto_num_workers(config):
  """One worker per core, at most 4: each holds JAX, TensorFlow and 8 fake devices (~2 GB)."""
  return max(1, min(os.cpu_count() or 1, 4))


def gan_setup(config, devices=None):
  """(GanTask, trainer.Setup) for `config` over `devices` (default: all): validated, abstract state, no arrays."""
  from videogan import trainer
  from videogan.gan.task import GanTask

  task = GanTask(config)
  return task, trainer.setup(task, devices)


# Two runs of the same training that differ only in the order of float32 reductions (meshes, processes,
# devices) agree within this bound; tests/test_sharding.py's docstring derives it and tests both sides.
TOLERANCE = 1e-3  # Of each leaf's largest change.
ULPS = 16  # Of each leaf's largest value: the float32 storage of the value itself.


def differences(state, expected, init, tolerance=TOLERANCE) -> dict[str, float]:
  """Per leaf, max |(x - x0) - (y - x0)| over what is allowed: `tolerance` max |y - x0| + ULPS ulps of max |y|.

  x in `state`, y in `expected`, x0 in `init`; a value above 1 is outside the bound.
  """
  import jax
  import numpy as np

  out = {}
  for (path, x), y, x0 in zip(jax.tree_util.tree_leaves_with_path(state), jax.tree.leaves(expected),
                              jax.tree.leaves(init), strict=True):
    x, y, x0 = (np.asarray(v, np.float64) for v in (x, y, x0))
    allowed = tolerance * np.abs(y - x0).max() + ULPS * np.finfo(np.float32).eps * np.abs(y).max()
    out[jax.tree_util.keystr(path, simple=True, separator="/")] = float(np.abs(x - y).max() / max(allowed, 1e-30))
  return out


def assert_close_to(state, expected, init):
  """Every leaf's change within the bound of `differences` (tests/test_sharding.py's docstring)."""
  worst = {k: v for k, v in differences(state, expected, init).items() if v > 1}
  assert not worst, f"leaves whose change differs by more than allowed (1 = the bound): {worst}"


def gan_initial_state(config) -> dict:
  """The state the trainer starts `config`'s GAN from (its seed's init key), as a checkpoint's nested dict."""
  import flax
  import jax

  from videogan.gan.task import GanTask

  init_rng = jax.random.split(jax.random.key(config.seed), 3)[0]  # The trainer's first stream.
  return flax.serialization.to_state_dict(GanTask(config).init_state(init_rng, None))
