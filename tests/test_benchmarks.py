"""benchmarks/train_step.py --profile: per-op times attributed to G and D, forward and backward."""

import json
import subprocess
import sys
from pathlib import Path

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
