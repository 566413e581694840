r"""Every benchmark in one run, and one table with the ratios.

  pip install -r benchmarks/requirements-torch.txt   # optional: the PyTorch twin
  python benchmarks/run_all.py [--steps 20] [--json_out results.json]

Each measurement runs in its own process, one after another, so none shares
threads or caches with another: this machine's peak (benchmarks/peak.py), the
train step of the default config and of a 128x128 config
(benchmarks/train_step.py), the same step in PyTorch with both of its conv
formulations (benchmarks/torch_twin.py; the faster one is compared), and the
default config's input pipeline (benchmarks/input_pipeline.py --moving_mnist).
"""

import json
import subprocess
import sys
from pathlib import Path

from absl import app, flags

flags.DEFINE_integer("steps", 20, "Timed steps for the default config (the 128x128 config runs a quarter).")
flags.DEFINE_integer("threads", 2, "PyTorch threads.")
flags.DEFINE_string("json_out", None, "Also write every raw result here.")
FLAGS = flags.FLAGS

HERE = Path(__file__).parent
# The train-step benchmarks feed random clips: a folder config's folder is never read.
CONFIGS = {
    "default 16x64x64": ["--config", "configs/moving_mnist.py"],
    "128x128": ["--config", "configs/video_folder.py:128", "--config.data.folder=unused"],
}


def run(script: str, *args: str) -> dict | None:
  """Runs `benchmarks/script --json ...` from the repository root; its last stdout line, parsed."""
  cmd = [sys.executable, str(HERE / script), "--json", *args]
  done = subprocess.run(cmd, cwd=HERE.parent, capture_output=True, text=True)
  if done.returncode:
    print(f"{' '.join(cmd[1:])} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
    return None
  return json.loads(done.stdout.strip().splitlines()[-1])


def torch_available() -> bool:
  return subprocess.run([sys.executable, "-c", "import torch"], capture_output=True).returncode == 0


def main(argv):
  del argv
  results = {"peak": run("peak.py"), "input_pipeline": run("input_pipeline.py", "--moving_mnist"), "configs": {}}
  has_torch = torch_available()
  for name, config in CONFIGS.items():
    steps = FLAGS.steps if name.startswith("default") else max(FLAGS.steps // 4, 3)
    timing = [*config, "--steps", str(steps), "--warmup", "2"]
    entry = {"jax": run("train_step.py", *timing)}
    if has_torch:
      for impl in ("fold", "conv3d"):
        entry[f"torch_{impl}"] = run("torch_twin.py", *timing, "--impl", impl, "--threads", str(FLAGS.threads))
    results["configs"][name] = entry
  if FLAGS.json_out:
    Path(FLAGS.json_out).write_text(json.dumps(results, indent=1))

  peak = results["peak"]
  conv_peak = max(p["conv_gflop_per_s"] for p in peak.values() if p) if peak else float("nan")
  if peak:
    print("machine peak, fp32 GFLOP/s (benchmarks/peak.py)")
    for lib, p in peak.items():
      if p:
        print(f"  {lib:6} matmul 4096^3 {p['matmul_gflop_per_s']:7.1f}   conv 3x3 128ch {p['conv_gflop_per_s']:7.1f}")
  print()
  header = (f"{'config':18} {'JAX clips/s':>11} {'ms/step':>8} {'GFLOP/s':>8} {'% conv peak':>11} {'compile s':>9} "
            f"{'XLA MB':>7} {'torch clips/s':>13} {'JAX/torch':>9}")
  print(header)
  for name, entry in results["configs"].items():
    j = entry["jax"]
    if j is None:
      print(f"{name:18} (failed)")
      continue
    twins = [entry.get(f"torch_{i}") for i in ("fold", "conv3d")]
    twins = [t for t in twins if t]
    best = max(twins, key=lambda t: t["clips_per_s"]) if twins else None
    torch_col = f"{best['clips_per_s']:8.2f} ({best['impl']})" if best else f"{'n/a':>13}"
    ratio = f"{j['clips_per_s'] / best['clips_per_s']:8.2f}x" if best else f"{'n/a':>9}"
    print(f"{name:18} {j['clips_per_s']:11.2f} {j['step_s'] * 1e3:8.1f} {j['gflop_per_s']:8.1f} "
          f"{100 * j['gflop_per_s'] / conv_peak:10.0f}% {j['compile_s']:9.1f} {j['xla_memory_mb']:7.0f} {torch_col:>13} {ratio}")
  if not has_torch:
    print("(PyTorch not installed: pip install -r benchmarks/requirements-torch.txt for the twin's columns)")
  pipe, default = results["input_pipeline"], results["configs"]["default 16x64x64"]["jax"]
  if pipe and default:
    print(f"\ninput pipeline, default config (Moving MNIST in tf.data): {pipe['clips_per_s']:.0f} clips/s = "
          f"{pipe['clips_per_s'] / default['clips_per_s']:.0f}x what its train step consumes")


if __name__ == "__main__":
  app.run(main)
