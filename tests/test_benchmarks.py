"""benchmarks/train_step.py --profile (per-op times attributed to G and D, forward and backward), and the
PyTorch twin against videogan (benchmarks/same_losses.py)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_step_part_reads_the_ops_source_metadata():
  # In a subprocess: the benchmark defines absl flags (--config, ...) that videogan.main, imported by other
  # tests in this worker, defines too.
  cases = {
      "jit(train_step)/jvp(SpriteGenerator)/SpriteGenerator._sprite_frames/reduce_sum": "G forward",
      "jit(train_step)/transpose(jvp(GruGenerator))/GruGenerator/block0/conv": "G backward",
      "jit(train_step)/transpose(jvp(Generator))/Generator/block0/conv": "G backward",
      "jit(train_step)/jvp(Discriminator)/Discriminator._apply/sn_spatial1/conv": "D forward",
      "jit(train_step)/transpose(jvp(Discriminator))/Discriminator._apply/x": "D backward",
      "jit(train_step)/add": "optimizers, EMA, losses, sampling",
      "": "no source metadata (layout copies XLA added)",
  }
  code = f"import json, train_step; print(json.dumps([train_step.step_part(n) for n in {list(cases)!r}]))"
  out = subprocess.run([sys.executable, "-c", code], cwd=REPO / "benchmarks", capture_output=True, text=True,
                       check=True).stdout
  assert json.loads(out.strip().splitlines()[-1]) == list(cases.values())


def test_profile_of_the_tiny_step_times_ops_of_every_part():
  out = subprocess.run(
      [sys.executable, "benchmarks/train_step.py", "--config", "configs/moving_mnist.py:tiny", "--steps", "2",
       "--warmup", "1", "--profile", "--json"],
      cwd=REPO, capture_output=True, text=True, check=True,
  ).stdout
  profile = json.loads(out.strip().splitlines()[-1])["profile"]
  parts = profile["by_part"]
  assert {"G forward", "G backward", "D forward", "D backward"} <= set(parts), parts
  assert all(ms > 0 for ms in parts.values())
  # Every op is counted once in each breakdown.
  assert abs(sum(parts.values()) - profile["ops_ms"]) < 1e-6 * profile["ops_ms"] + 1e-9
  assert abs(sum(profile["by_kind"].values()) - profile["ops_ms"]) < 1e-6 * profile["ops_ms"] + 1e-9
  assert len(profile["slowest"]) == 10


@pytest.mark.parametrize("config, options", [
    ("configs/moving_mnist.py", []),  # The 64x64 default: sprites, D pooled by sums.
    ("configs/video_folder.py:128", ["--config.batch_size=2"]),  # The 128x128 default: style, flattened D.
    ("configs/video_folder.py:128", ["--config.batch_size=2", "--small_grid", "--explicit_pad"]),
])
def test_the_torch_twin_and_videogan_give_the_same_losses(config, options):
  # The benchmark races the same model: from videogan's initial state, with its latents and frame indices,
  # the twin's L_D and L_G match videogan's at each of 3 steps. Step 0 checks both forward passes and D's
  # backward pass and Adam update (L_G is taken through the updated D); step 1's L_D, G's. Adam amplifies
  # rounding after that (m / sqrt(v) is +-1 for any gradient, however small): by step 2 videogan's own fold
  # and native layers differ by ~1e-3 (benchmarks/same_losses.py --jax_native). The twin's other forms (its
  # upsampling convs on the small grid, an F.pad per conv) must give the same too.
  out = subprocess.run([sys.executable, "benchmarks/same_losses.py", "--config", config, *options, "--json"],
                       cwd=REPO, capture_output=True, text=True, check=True).stdout
  steps = json.loads(out.strip().splitlines()[-1])["steps"]
  assert len(steps) == 3
  for i, (row, rtol) in enumerate(zip(steps, (1e-4, 1e-3, 5e-3), strict=True)):
    for name in ("d_loss", "g_loss"):
      assert row["twin"][name] == pytest.approx(row["jax"][name], rel=rtol), (i, name, row)
