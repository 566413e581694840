r"""I3D throughput and FVD's sanity floor on this machine.

  python benchmarks/fvd.py                        # Moving MNIST (configs/moving_mnist.py), 256 clips per set
  python benchmarks/fvd.py --num 64 --batch 8

Prints I3D clips/s (16 x 64 x 64 clips resized to 224, batches of `--batch`)
and FVD between `--num` real test clips (the real statistics `--mode eval`
uses, cached) and: a second real sample (other seed), that sample with its
frames shuffled in time, and uniform noise.
"""

import sys
import time
from pathlib import Path

import numpy as np
from absl import app, flags

from videogan.gan import evaluate

flags.DEFINE_integer("num", 256, "Clips per set.")
flags.DEFINE_integer("batch", 8, "Clips per I3D call.")
FLAGS = flags.FLAGS


def main(argv) -> None:
  del argv
  sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "configs"))
  import moving_mnist

  config = moving_mnist.get_config()
  config.fvd.num_real = FLAGS.num
  extractor = evaluate.FeatureExtractor(config.fvd.resize, FLAGS.batch)
  real_b = np.concatenate(list(evaluate.real_clips(config, FLAGS.num, "test", seed=1)))
  rng = np.random.default_rng(0)
  sets = {
      "real (second sample)": real_b,
      "real, frames shuffled": np.stack([clip[rng.permutation(len(clip))] for clip in real_b]),
      "uniform noise": rng.integers(0, 256, real_b.shape).astype(np.uint8),
  }
  extractor(real_b[: FLAGS.batch])  # Compile.
  t0 = time.perf_counter()
  extractor(real_b[: 4 * FLAGS.batch])
  clips_per_sec = 4 * FLAGS.batch / (time.perf_counter() - t0)
  print(f"I3D: {clips_per_sec:.2f} clips/s ({real_b.shape[1]} x {real_b.shape[2]} x {real_b.shape[3]} clips "
        f"resized to 224, batch {FLAGS.batch})")
  # The reference set is `--mode eval`'s real statistics (test split, fvd.seed), cached for it.
  reference = evaluate.real_statistics(config, extractor)
  print(f"FVD against {FLAGS.num} real Moving MNIST test clips ({config.fvd.resize}):")
  for name, clips in sets.items():
    print(f"  {name:24s} {evaluate.frechet_distance(*reference, *evaluate.gaussian(extractor(clips))):8.1f}")


if __name__ == "__main__":
  app.run(main)
