"""The installed package as a user gets it: the `videogan` command, its configs, and runs without --config."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
  """videogan built as a wheel and installed into a directory of its own (dependencies: this environment's)."""
  root = tmp_path_factory.mktemp("package")
  subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"),
                  str(REPO)], check=True, capture_output=True)
  (wheel,) = (root / "dist").glob("videogan-*.whl")
  target = root / "site"
  subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                 check=True, capture_output=True)
  # Run outside the checkout, with the installed copy first on the path (before the editable install).
  env = {**os.environ, "PYTHONPATH": str(target), "JAX_NUM_CPU_DEVICES": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
  cwd = root / "elsewhere"
  cwd.mkdir()

  def videogan(*args):
    proc = subprocess.run([str(target / "bin" / "videogan"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc

  return videogan, target, env, cwd


def test_the_console_script_runs_from_the_installed_package(installed):
  videogan, target, env, cwd = installed
  where = subprocess.run([sys.executable, "-c", "import videogan, videogan.configs; print(videogan.configs.__file__)"],
                         cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout.strip()
  assert where.startswith(str(target))
  proc = videogan("--help")  # Exit status 0.
  assert "--workdir" in proc.stdout and "--mode" in proc.stdout and "--config" in proc.stdout


@pytest.fixture(scope="module")
def trained(installed):
  """A tiny run trained by the installed command, from the README's `configs/...` path, which names no file here:
  the installed package's config is used. The eval's sizes go into the run's config, which the checkpoint keeps."""
  videogan, _, _, cwd = installed
  videogan("--config", "configs/moving_mnist.py:tiny", "--config.data.clip_len=10", "--config.fvd.num_real=6",
           "--config.fvd.num_generated=6", "--config.fvd.batch_size=3", "--config.fvd.cache_dir=fvd_cache",
           "--workdir", "run")
  return cwd / "run"


def test_sample_and_eval_without_config(installed, trained):
  videogan, _, _, cwd = installed
  videogan("--mode", "sample", "--workdir", "run", "--output_dir", "out")
  with np.load(cwd / "out" / "samples.npz", allow_pickle=False) as f:
    assert f["videos"].shape == (4, 10, 32, 32, 1)
  videogan("--mode", "eval", "--workdir", "run")
  assert json.loads((cwd / "run" / "fvd_step_4.json").read_text())["recipe"]["num_real"] == 6


def test_load_generator_samples_with_the_saved_config(installed, trained):
  _, _, env, cwd = installed
  # The same run, from Python: no config given anywhere.
  code = ("import videogan; g = videogan.load_generator('run'); c = g.sample(3, seed=1); "
          "print(g.step, c.shape, c.dtype, g.config.model.generator.widths)")
  out = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=True)
  assert out.stdout.split()[0] == "4" and "(3, 10, 32, 32, 1) uint8" in out.stdout


def test_a_checkpoint_config_from_before_new_keys_loads_with_their_defaults(tmp_path):
  """Configs saved before `augment`, `ema_rampup` and `fvd.protocol` existed: those take their defaults."""
  from tests.conftest import TINY_CONFIG, run_cli
  from videogan.gan import load

  run_cli("--config", TINY_CONFIG, "--workdir", str(tmp_path), "--config.total_steps=2", "--config.checkpoint_every=2")
  metadata = tmp_path / "checkpoints" / "2" / "config" / "metadata"
  saved = json.loads(metadata.read_text())
  for key in ("augment", "ema_rampup"):
    del saved[key]
  del saved["fvd"]["protocol"]
  metadata.write_text(json.dumps(saved))
  config = load.config_from_workdir(tmp_path)
  assert (config.augment, config.ema_rampup, config.fvd.protocol) == ("", 0.0, "custom")
  # The saved values win, as tuples again (JSON keeps lists).
  assert config.model.generator.widths == tuple(saved["model"]["generator"]["widths"])
  assert config.total_steps == 2 and config.model.generator.name == saved["model"]["generator"]["name"]
  assert load.load_generator(tmp_path).sample(2).shape[0] == 2
