r"""Every benchmark in one run, and one table with the ratios, from interleaved rounds.

  pip install -r benchmarks/requirements-torch.txt   # optional: the PyTorch twin
  python benchmarks/run_all.py [--rounds 10] [--steps 20] [--json_out results.json]

Each measurement runs in its own process, one after another, so none shares
threads or caches with another: this machine's peak (benchmarks/peak.py), the
default config's input pipeline (benchmarks/input_pipeline.py --moving_mnist),
then for each config `--rounds` rounds of the JAX train step
(benchmarks/train_step.py) and the same step in PyTorch
(benchmarks/torch_twin.py), the two alternating (JAX first in even rounds, the
twin first in odd ones) so that a drift in the machine's speed falls on both.
Printed: the median step time of each and its interquartile range, and the
ratio twin / JAX per round (above 1: JAX is faster), its median and range.
Run it on an otherwise idle machine.
"""

import json
import statistics
import subprocess
import sys
from pathlib import Path

from absl import app, flags
from interleave import cell, quartiles, run

flags.DEFINE_integer("rounds", 10, "Interleaved JAX / PyTorch rounds per config.")
flags.DEFINE_integer("steps", 20, "Timed steps per round at 64x64 (at 128x128 a quarter).")
flags.DEFINE_integer("threads", 2, "PyTorch threads.")
flags.DEFINE_string("impl", "fold", "The twin's conv formulation (torch_twin.py --impl).")
flags.DEFINE_list("twin_flags", [], "More torch_twin.py flags, e.g. --small_grid (comma-separated).")
flags.DEFINE_list("configs", None, "Only these names of CONFIGS (default: all).")
flags.DEFINE_string("json_out", None, "Also write every raw result here.")
FLAGS = flags.FLAGS

# The train-step benchmarks feed random clips: a folder config's folder is never read. One config per
# size and generator family a shipped config uses without given frames (the twin has none).
CONFIGS = {
    "16x64x64 sprites": ["--config", "configs/moving_mnist.py"],
    "16x64x64x3 style": ["--config", "configs/video_folder.py", "--config.data.folder=unused"],
    "16x128x128x3 style": ["--config", "configs/video_folder.py:128", "--config.data.folder=unused"],
}


def torch_available() -> bool:
  return subprocess.run([sys.executable, "-c", "import torch"], capture_output=True).returncode == 0


def rounds(config: list[str], steps: int, has_torch: bool) -> dict:
  """JAX and twin step times from interleaved rounds: {"jax": [...], "torch": [...], "runs": raw results}."""
  timing = [*config, "--steps", str(steps), "--warmup", "2"]
  out = {"jax": [], "torch": [], "runs": []}
  for i in range(FLAGS.rounds):
    order = ["jax", "torch"] if i % 2 == 0 else ["torch", "jax"]
    for who in order:
      if who == "torch" and not has_torch:
        continue
      r = (run("train_step.py", *timing) if who == "jax" else
           run("torch_twin.py", *timing, "--impl", FLAGS.impl, "--threads", str(FLAGS.threads), *FLAGS.twin_flags))
      out["runs"].append({"round": i, "who": who, "result": r})
      if r:
        out[who].append(r["step_s"])
  return out


def main(argv):
  del argv
  results = {"peak": run("peak.py"), "input_pipeline": run("input_pipeline.py", "--moving_mnist"), "configs": {}}
  has_torch = torch_available()
  for name, config in CONFIGS.items():
    if FLAGS.configs and name not in FLAGS.configs:
      continue
    steps = FLAGS.steps if "128" not in name else max(FLAGS.steps // 4, 3)
    entry = rounds(config, steps, has_torch)
    by_round = {}
    for r in entry["runs"]:
      if r["result"]:
        by_round.setdefault(r["round"], {})[r["who"]] = r["result"]["step_s"]
    # twin / JAX per round (> 1: JAX faster), from the rounds where both ran.
    entry["ratios"] = [r["torch"] / r["jax"] for r in by_round.values() if len(r) == 2]
    for key in ("jax", "torch", "ratios"):
      if entry[key]:
        entry[f"{key}_quartiles"] = quartiles(entry[key])
    results["configs"][name] = entry
  if FLAGS.json_out:
    Path(FLAGS.json_out).write_text(json.dumps(results, indent=1))

  peak = results["peak"]
  if peak:
    print("machine peak, fp32 GFLOP/s (benchmarks/peak.py)")
    for lib, p in peak.items():
      if p:
        print(f"  {lib:6} matmul 4096^3 {p['matmul_gflop_per_s']:7.1f}   conv 3x3 128ch {p['conv_gflop_per_s']:7.1f}")
  print()
  print(f"{FLAGS.rounds} interleaved rounds per config; median [25th-75th percentile]")
  print(f"{'config':20} {'JAX ms/step':>24} {'twin ms/step':>24} {'twin / JAX':>22}")

  for name, entry in results["configs"].items():
    jax_q, torch_q, ratio_q = (entry.get(f"{k}_quartiles") for k in ("jax", "torch", "ratios"))
    print(f"{name:20} {cell(jax_q) if jax_q else '(failed)':>24} {cell(torch_q) if torch_q else 'n/a':>24} "
          f"{cell(ratio_q, 1, 2) if ratio_q else 'n/a':>22}")
  if not has_torch:
    print("(PyTorch not installed: pip install -r benchmarks/requirements-torch.txt for the twin's columns)")
  pipe, default = results["input_pipeline"], results["configs"].get("16x64x64 sprites")
  if pipe and default and default.get("jax"):
    batch = default["runs"][0]["result"]["batch"] if default["runs"][0]["result"] else 4
    print(f"\ninput pipeline, default config (Moving MNIST in tf.data): {pipe['clips_per_s']:.0f} clips/s = "
          f"{pipe['clips_per_s'] * statistics.median(default['jax']) / batch:.0f}x what its train step consumes")


if __name__ == "__main__":
  app.run(main)
