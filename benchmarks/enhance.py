r"""Enhancer inference speed: frames/s at 256x256 -> 512x512 (x2) on this machine.

  python benchmarks/enhance.py                                   # configs/enhancer.py, untrained weights
  python benchmarks/enhance.py --workdir runs/enhancer_x2        # a trained checkpoint (same FLOPs)
  python benchmarks/enhance.py --size 128 --chunk 4

Times the jitted `apply` on chunks of `--chunk` windows (each the frame and its
neighbours), the batch already in host memory as `enhance_video` has it, as
the median over `--repeats` calls after one warm-up call; reports frames/s,
XLA's FLOP estimate per frame and the achieved GFLOP/s. Decoding and encoding
are not included (`--mode enhance` adds ffmpeg's time).
"""

import statistics
import sys
import time
from pathlib import Path

import jax
import numpy as np
from absl import app, flags, logging

from videogan.enhancer import infer
from videogan.enhancer import state as enhancer_state

flags.DEFINE_string("workdir", None, "An enhancer workdir to load (default: configs/enhancer.py, fresh weights).")
flags.DEFINE_integer("size", 256, "Input frame side in pixels.")
flags.DEFINE_integer("chunk", 8, "Frames per call.")
flags.DEFINE_integer("repeats", 5, "Timed calls.")
FLAGS = flags.FLAGS


def main(argv) -> None:
  del argv
  logging.set_verbosity(logging.WARNING)  # Orbax logs every restore phase at INFO.
  if FLAGS.workdir:
    config, model, params = infer.load(FLAGS.workdir)
  else:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "configs"))
    import enhancer

    config = enhancer.get_config()
    models = enhancer_state.Models.from_config(config)
    model, params = models.model, models.init(jax.random.key(0), config).params
  s, t = config.model.scale, config.model.window
  windows = np.random.default_rng(0).uniform(-1, 1, (FLAGS.chunk, t, FLAGS.size, FLAGS.size, 3)).astype(np.float32)
  fn = jax.jit(lambda p, x: model.apply({"params": p}, x))
  t0 = time.perf_counter()
  compiled = fn.lower(params, windows).compile()
  compile_s = time.perf_counter() - t0
  cost = compiled.cost_analysis()
  flops = float((cost[0] if isinstance(cost, (list, tuple)) else cost).get("flops", 0.0))
  apply = infer.make_apply_fn(model)
  apply(params, windows)
  times = []
  for _ in range(FLAGS.repeats):
    t0 = time.perf_counter()
    apply(params, windows)
    times.append(time.perf_counter() - t0)
  sec = statistics.median(times)
  print(f"enhancer x{s}, {t}-frame windows, {config.model.num_blocks} blocks x {config.model.features} channels, "
        f"{jax.device_count()} {jax.devices()[0].platform} device(s)")
  print(f"{FLAGS.size}x{FLAGS.size} -> {FLAGS.size * s}x{FLAGS.size * s}: {FLAGS.chunk / sec:.2f} frames/s "
        f"({sec / FLAGS.chunk * 1000:.0f} ms/frame), {flops / FLAGS.chunk / 1e9:.1f} GFLOP/frame, "
        f"{flops / sec / 1e9:.1f} GFLOP/s achieved, compile {compile_s:.1f} s")


if __name__ == "__main__":
  app.run(main)
