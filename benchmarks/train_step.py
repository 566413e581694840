r"""Throughput of the train step: clips/s, step time, achieved GFLOP/s, compile time, memory.

  python benchmarks/train_step.py                                  # default config
  python benchmarks/train_step.py --config configs/video_folder.py:128 --steps 5
  python benchmarks/train_step.py --json                           # one JSON line (run_all.py)
  python benchmarks/train_step.py --profile                        # and where the time goes, per op

Times the jitted, sharded train step alone (the batch is already on device),
as the median over `--steps` steps after `--warmup` steps (with lazy R1, the
median of the mean step time of whole `r1_every`-step cycles; step_timing.py), and reports XLA's
FLOP estimate of the compiled step divided by that time. Memory: XLA's
estimate for the compiled step (arguments + outputs + temporaries, per
device) and the process's peak resident set.

`--profile` then runs `--steps` more steps under `jax.profiler.trace` and
sums the time of each compiled HLO op (XLA:CPU records one event per op):
by kind of op, by part of the step (G or D, forward or backward, from the
op's source metadata) and the slowest ops. The ops of one step can run on
several cores at once, so their sum can exceed the step time.
"""

import collections
import gzip
import json
import re
import resource
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import step_timing
from absl import app, flags
from ml_collections import config_flags

from videogan import config_validation, parallel
from videogan.gan import state as state_lib
from videogan.gan.train_step import make_train_step
from videogan.models.gan import VideoGAN

config_flags.DEFINE_config_file("config", "configs/moving_mnist.py", "Config to benchmark.", lock_config=True)
flags.DEFINE_integer("steps", 10, "Timed steps.")
flags.DEFINE_integer("warmup", 2, "Untimed steps after compilation.")
flags.DEFINE_bool("json", False, "Print one JSON line instead of text.")
flags.DEFINE_bool("profile", False, "Also profile --steps steps and print where the time goes, per op.")
FLAGS = flags.FLAGS


def op_kind(name: str) -> str:
  if name.startswith("ynn_fusion"):
    return "YNNPACK fusions (dots, convolutions)"
  if name.startswith("convolution"):
    return "XLA convolutions"
  if name.startswith("dot"):
    return "XLA dots"
  if "transpose" in name or name.startswith("copy"):
    return "transposes and copies"
  return "other fusions (elementwise, reductions)"


def step_part(op_name: str) -> str:
  """G or D, forward or backward, from an op's `op_name` metadata (e.g. jit(train_step)/transpose(jvp(GruGenerator))/...).

  G is whichever family's class (GruGenerator, SpriteGenerator, ...): any module name ending in Generator.
  """
  if not op_name:
    return "no source metadata (layout copies XLA added)"
  for module, short in (("Generator", "G"), ("Discriminator", "D")):
    if re.search(rf"transpose\(jvp\(\w*{module}\)\)", op_name):
      return f"{short} backward"
    if re.search(rf"jvp\(\w*{module}\)|/\w*{module}\b", op_name):
      return f"{short} forward"
  return "optimizers, EMA, losses, sampling"


def profile(compiled, state, batch, rng, steps: int) -> dict:
  """Per-op time of `steps` steps: totals by kind and by part of the step (ms per step), and the 10 slowest ops."""
  with tempfile.TemporaryDirectory() as trace_dir:
    with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
      for _ in range(steps):
        state, metrics = compiled(state, batch, rng)
      jax.block_until_ready(metrics)
    (trace_file,) = Path(trace_dir).rglob("perfetto_trace.json.gz")
    with gzip.open(trace_file) as f:
      trace = json.load(f)
  events = trace["traceEvents"] if isinstance(trace, dict) else trace
  hlo = compiled.as_text()
  op_names = dict(re.findall(r"^\s*(?:ROOT )?%([\w.\-]+) = .*?op_name=\"([^\"]*)\"", hlo, flags=re.MULTILINE))
  ops = set(re.findall(r"^\s*(?:ROOT )?%([\w.\-]+) = ", hlo, flags=re.MULTILINE))
  per_op = collections.Counter()
  for e in events:
    if e.get("ph") == "X" and e.get("name") in ops:
      per_op[e["name"]] += e.get("dur", 0) / 1e3 / steps  # us -> ms per step
  by_kind, by_part = collections.Counter(), collections.Counter()
  for name, ms in per_op.items():
    by_kind[op_kind(name)] += ms
    by_part[step_part(op_names.get(name, ""))] += ms
  return {
      "ops_ms": sum(per_op.values()),
      "by_kind": dict(by_kind.most_common()),
      "by_part": dict(by_part.most_common()),
      "slowest": [(name, ms, op_names.get(name, "")) for name, ms in per_op.most_common(10)],
  }


def benchmark(config, steps: int, warmup: int, with_profile: bool = False) -> dict[str, float]:
  parallel.split_cpu_cores(config)  # As the CLI's training does (config.cpu_devices).
  mesh = parallel.make_mesh(config.mesh)
  config_validation.validate(config, mesh=mesh)
  gan = VideoGAN.from_config(config)
  g_tx, d_tx = state_lib.make_optimizers(config)
  replicated, batch_sharding = parallel.replicated(mesh), parallel.batch_sharding(mesh)
  target = state_lib.abstract_state(gan, g_tx, d_tx, mesh, config.sharding)
  state_sharding = jax.tree.map(lambda s: s.sharding, target)
  state = state_lib.create_state(jax.random.key(0), gan, g_tx, d_tx, state_sharding)
  step = jax.jit(make_train_step(gan, config), in_shardings=(state_sharding, batch_sharding, replicated),
                 out_shardings=(state_sharding, replicated), donate_argnums=0)
  batch = {"video": jax.device_put(
      jax.random.uniform(jax.random.key(1), (config.batch_size, *gan.video_shape), minval=-1, maxval=1), batch_sharding)}
  rng = jax.random.key(2)

  t0 = time.perf_counter()
  compiled = step.lower(state, batch, rng).compile()
  compile_s = time.perf_counter() - t0
  cost = compiled.cost_analysis()
  # XLA's estimate is for the per-device (partitioned) program.
  flops = float((cost[0] if isinstance(cost, (list, tuple)) else cost).get("flops", 0.0)) * mesh.size
  memory = compiled.memory_analysis()
  xla_bytes = sum(getattr(memory, f"{kind}_size_in_bytes", 0) for kind in ("argument", "output", "temp")) if memory else 0

  for _ in range(warmup):
    state, metrics = compiled(state, batch, rng)
  jax.block_until_ready(metrics)
  times = []
  for _ in range(step_timing.whole_cycles(steps, config)):
    t0 = time.perf_counter()
    state, metrics = compiled(state, batch, rng)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - t0)
  step_s = step_timing.step_time(times, config)
  extra = {"profile": profile(compiled, state, batch, rng, steps)} if with_profile else {}
  return {
      "devices": mesh.size,
      "batch": config.batch_size,
      "g_params": state_lib.param_count(state.g_params),
      "d_params": state_lib.param_count(state.d_params),
      "compile_s": compile_s,
      "step_s": step_s,
      "clips_per_s": config.batch_size / step_s,
      "gflop_per_step": flops / 1e9,
      "gflop_per_s": flops / 1e9 / step_s,
      "xla_memory_mb": xla_bytes / 2**20,
      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
      "finite": bool(jnp.isfinite(metrics["d_loss"])),
      **extra,
  }


def main(argv):
  del argv
  r = benchmark(FLAGS.config, FLAGS.steps, FLAGS.warmup, FLAGS.profile)
  if FLAGS.json:
    print(json.dumps(r))
    return
  print(f"train step ({r['devices']} device(s), batch {r['batch']}, G {r['g_params']:,} / D {r['d_params']:,} params)")
  print(f"  compile       {r['compile_s']:8.1f} s")
  print(f"  step time     {r['step_s'] * 1e3:8.1f} ms  ({step_timing.describe(FLAGS.steps, FLAGS.warmup, FLAGS.config)})")
  print(f"  clips/s       {r['clips_per_s']:8.2f}")
  print(f"  XLA GFLOP     {r['gflop_per_step']:8.2f} per step")
  print(f"  achieved      {r['gflop_per_s']:8.2f} GFLOP/s")
  print(f"  memory        {r['xla_memory_mb']:8.1f} MB (XLA estimate), peak RSS {r['peak_rss_mb']:.0f} MB")
  if "profile" in r:
    p = r["profile"]
    print(f"profile: {p['ops_ms']:.1f} ms of ops per step (summed over cores)")
    for title, totals in (("by kind", p["by_kind"]), ("by part", p["by_part"])):
      print(f"  {title}:")
      for name, ms in totals.items():
        print(f"    {name:42s} {ms:7.1f} ms  {100 * ms / p['ops_ms']:5.1f}%")
    print("  slowest ops:")
    for name, ms, op_name in p["slowest"]:
      print(f"    {name:32s} {ms:6.2f} ms  {op_name.removeprefix('jit(train_step)/')[:90]}")


if __name__ == "__main__":
  app.run(main)
