"""benchmarks/train_step.py --profile: per-op times attributed to G and D, forward and backward."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_step_part_reads_the_ops_source_metadata(monkeypatch):
  monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
  import train_step

  assert train_step.step_part("jit(train_step)/jvp(Generator)/Generator._sprite_frames/reduce_sum") == "G forward"
  assert train_step.step_part("jit(train_step)/transpose(jvp(Generator))/Generator/block0/conv") == "G backward"
  assert train_step.step_part("jit(train_step)/jvp(Discriminator)/Discriminator._apply/sn_spatial1/conv") == "D forward"
  assert train_step.step_part("jit(train_step)/transpose(jvp(Discriminator))/Discriminator._apply/x") == "D backward"
  assert train_step.step_part("jit(train_step)/add") == "optimizers, EMA, losses, sampling"
  assert train_step.step_part("").startswith("no source metadata")


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
