r"""This machine's measured fp32 throughput: one large matmul and one large 2-D conv.

  python benchmarks/peak.py [--json]

The ceilings the train step is compared against (benchmarks/run_all.py):

* matmul: [4096, 4096] @ [4096, 4096], 2 * 4096^3 FLOP;
* conv: 3x3, 128 -> 128 channels, stride 1, SAME, on [32, 64, 64, 128] NHWC
  (2 * 32 * 64 * 64 * 9 * 128 * 128 FLOP), the shape of a wide generator layer;

each jitted in JAX (XLA:CPU) and, when PyTorch is installed
(benchmarks/requirements-torch.txt), in PyTorch with the same thread count
(channels-last conv). Median of `--repeats` runs after one warm-up.
"""

import json
import os
import statistics
import time

import jax
import jax.numpy as jnp
from absl import app, flags
from jax import lax

flags.DEFINE_integer("repeats", 10, "Timed runs per op.")
flags.DEFINE_bool("json", False, "Print one JSON line instead of a table.")
FLAGS = flags.FLAGS

MATMUL_N = 4096
CONV = dict(batch=32, size=64, channels=128, kernel=3)


def _median_seconds(fn, repeats: int) -> float:
  fn()
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t0)
  return statistics.median(times)


def matmul_flop() -> float:
  return 2.0 * MATMUL_N**3


def conv_flop() -> float:
  c = CONV
  return 2.0 * c["batch"] * c["size"] ** 2 * c["kernel"] ** 2 * c["channels"] ** 2


def jax_peak(repeats: int) -> dict[str, float]:
  a = jax.random.normal(jax.random.key(0), (MATMUL_N, MATMUL_N))
  b = jax.random.normal(jax.random.key(1), (MATMUL_N, MATMUL_N))
  matmul = jax.jit(jnp.matmul)
  c = CONV
  x = jax.random.normal(jax.random.key(2), (c["batch"], c["size"], c["size"], c["channels"]))
  w = jax.random.normal(jax.random.key(3), (c["kernel"], c["kernel"], c["channels"], c["channels"]))
  conv = jax.jit(lambda x, w: lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")))
  return {
      "matmul_gflop_per_s": matmul_flop() / 1e9 / _median_seconds(lambda: matmul(a, b).block_until_ready(), repeats),
      "conv_gflop_per_s": conv_flop() / 1e9 / _median_seconds(lambda: conv(x, w).block_until_ready(), repeats),
  }


def torch_peak(repeats: int) -> dict[str, float] | None:
  try:
    import torch
  except ImportError:
    return None
  torch.set_num_threads(os.cpu_count() or 1)
  a, b = torch.randn(MATMUL_N, MATMUL_N), torch.randn(MATMUL_N, MATMUL_N)
  c = CONV
  x = torch.randn(c["batch"], c["channels"], c["size"], c["size"]).to(memory_format=torch.channels_last)
  conv = torch.nn.Conv2d(c["channels"], c["channels"], c["kernel"], padding=1, bias=False).to(memory_format=torch.channels_last)
  with torch.no_grad():
    return {
        "matmul_gflop_per_s": matmul_flop() / 1e9 / _median_seconds(lambda: a @ b, repeats),
        "conv_gflop_per_s": conv_flop() / 1e9 / _median_seconds(lambda: conv(x), repeats),
        "threads": torch.get_num_threads(),
    }


def main(argv):
  del argv
  result = {"jax": jax_peak(FLAGS.repeats), "torch": torch_peak(FLAGS.repeats)}
  if FLAGS.json:
    print(json.dumps(result))
    return
  print(f"{'':8} {'matmul 4096^3':>16} {'conv 3x3 128ch':>16}   (fp32 GFLOP/s)")
  for name, r in result.items():
    if r is not None:
      print(f"{name:8} {r['matmul_gflop_per_s']:16.1f} {r['conv_gflop_per_s']:16.1f}")


if __name__ == "__main__":
  app.run(main)
