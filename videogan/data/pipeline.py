"""tf.data pipelines that feed the trainer: per-process shards of global batches.

Sources here are *index-addressable*: example `i` of a split is a pure function
of (seed, i). The training stream from example `e` is batch `s` =
examples `[e + s * global_batch, e + (s + 1) * global_batch)`; process `p` of `P` reads the
contiguous `global_batch / P` of them at offset `p * global_batch / P`. The
global batch is therefore the same whatever the number of processes or devices,
and the data position is one number, the index of the next clip: a resumed run
starts there and neither replays nor skips a clip.
"""

from collections.abc import Callable
from pathlib import Path

import ml_collections
import numpy as np
import tensorflow as tf

from videogan import errors
from videogan.data import mnist, moving_mnist, one_video, tfds_source, tfrecord, video_file, video_source

# Split keys keep the train and eval streams independent for the same seed.
_SPLIT_SEED_OFFSET = {"train": 0, "test": 1_000_003}


def check_source(config: ml_collections.ConfigDict, split: str = "train") -> None:
  """Fails, before anything is compiled, if `config.data` cannot give `split`'s clips.

  Raises `ConfigError` naming the key and path: a missing or empty folder, or
  one with no usable video (each file tried is named with its reason), and a
  class-conditional model (`model.num_classes`) whose data has other classes.
  """
  data = config.data
  if data.source == "moving_mnist":
    return
  if data.source == "folder" and is_one_video(config):
    if split == "test" and not data.holdout_fraction > 0:
      raise errors.ConfigError(f"config.data.folder={data.folder!r} is one video and config.data.holdout_fraction=0: "
                               "it has no held-out part to evaluate on; set data.holdout_fraction in (0, 1).")
    try:
      one_video.load_parts(str(Path(data.folder).expanduser()), config.fps, data.image_size, data.channels,
                           data.holdout_fraction, data.clip_len)
    except (video_source.TooShort, video_file.VideoError) as e:
      raise errors.ConfigError(f"config.data.folder={data.folder!r}: {getattr(e, 'reason', e)}") from None
    classes, unlabelled = 0, True
  elif data.source == "folder":
    try:
      videos = video_source.list_videos(data.folder, split, data.eval_fraction)
      video_source.first_readable(videos, video_source.ClipSpec.from_config(config, train=False))
    except FileNotFoundError as e:
      raise errors.ConfigError(f"config.data.folder={data.folder!r}, {split!r} split: {e}") from None
    classes, unlabelled = len(videos.classes), -1 in videos.labels
  elif data.source == "tfrecord":
    try:
      index = tfrecord.read_index(data.tfrecord_dir)
      if not index["splits"].get(split, {}).get("records"):
        raise FileNotFoundError(f"no {split!r} videos in {tfrecord.INDEX}")
    except (FileNotFoundError, ValueError) as e:
      raise errors.ConfigError(str(e) if "config.data" in str(e) else
                                          f"config.data.tfrecord_dir={data.tfrecord_dir!r}: {e}") from None
    classes = len(index["classes"])
    unlabelled = any(r["label"] < 0 for r in index["splits"][split]["records"])
  else:  # "tfds"
    try:
      builder = tfds_source.load_builder(data.tfds_name, data.tfds_data_dir)
    except (FileNotFoundError, ValueError) as e:
      raise errors.ConfigError(str(e)) from None
    features = builder.info.features
    label = features[data.tfds_label_key] if data.tfds_label_key in features else None
    classes, unlabelled = getattr(label, "num_classes", 0), label is None
  num_classes = config.model.get("num_classes", 0)  # The enhancer has none.
  if num_classes and (unlabelled or classes != num_classes):
    raise errors.ConfigError(
        f"config.model.num_classes={num_classes}: the {data.source!r} data has {classes} classes"
        + (" and videos without a class" if unlabelled else "") + " (folders: one sub-folder per class).")


def _moving_mnist_fn(config: ml_collections.ConfigDict, split: str, seed: int):
  data = config.data
  digits = mnist.load_digits(split, source=data.mnist_source, tfds_data_dir=data.tfds_data_dir, download=data.download)
  return moving_mnist.make_clip_fn(
      tf.constant(digits),
      seed=seed + _SPLIT_SEED_OFFSET[split],
      clip_len=data.clip_len,
      canvas_size=data.image_size,
      num_digits=data.num_digits,
      step_length=data.step_length,
  )


def is_one_video(config: ml_collections.ConfigDict) -> bool:
  """Whether `data.folder` names a single video file (one_video.py: split in time) rather than a folder."""
  return config.data.source == "folder" and Path(config.data.folder).expanduser().is_file()


def _folder_fn(config: ml_collections.ConfigDict, split: str, seed: int, training: bool, bad_files: video_source.BadFiles):
  data = config.data
  spec = video_source.ClipSpec.from_config(config, train=training)
  if is_one_video(config):
    source = one_video.OneVideoSource(str(Path(data.folder).expanduser()), spec, data.holdout_fraction, seed, split,
                                      training, mirror=data.random_flip)
  else:
    videos = video_source.list_videos(data.folder, split, data.eval_fraction)
    source = video_source.FolderSource(videos, spec, seed, split, training, bad_files)
  shape = (data.clip_len, data.image_size, data.image_size, data.channels)

  def load(index):
    clip, label, path = source.clip(int(index))
    return np.ascontiguousarray(clip), np.int32(label), np.bytes_(path.encode())

  def clip_fn(index):
    clip, label, path = tf.numpy_function(load, [index], [tf.uint8, tf.int32, tf.string], stateful=False)
    return {"video": tf.ensure_shape(clip, shape), "label": tf.ensure_shape(label, ()), "path": tf.ensure_shape(path, ())}

  return clip_fn


def _tfrecord_fn(config: ml_collections.ConfigDict, split: str, seed: int, training: bool, bad_files: video_source.BadFiles):
  index = tfrecord.read_index(config.data.tfrecord_dir)
  spec = video_source.ClipSpec.from_config(config, train=training)
  return tfrecord.TFRecordSource(config.data.tfrecord_dir, index, split, spec, seed, training, bad_files).clip_fn()


def _tfds_fn(config: ml_collections.ConfigDict, split: str, seed: int, training: bool, bad_files: video_source.BadFiles):
  return tfds_source.TFDSSource(config, split, seed, training, bad_files).clip_fn()


def _to_model_range(example: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
  """uint8 [0, 255] -> float32 [-1, 1]; Moving MNIST is already float."""
  video = example.get("video")
  if video is not None and video.dtype == tf.uint8:
    video = tf.cast(video, tf.float32) / 127.5 - 1.0
  return {**example, "video": video}


def _local_indices(first_example: int, num_steps: int | None, global_batch: int, process_index: int, process_count: int) -> tf.data.Dataset:
  """Example indices this process reads, batch by batch, from `first_example` on."""
  local_batch = global_batch // process_count
  num_steps = (np.iinfo(np.int64).max - first_example) // global_batch if num_steps is None else num_steps
  start = first_example + process_index * local_batch
  return tf.data.Dataset.range(num_steps).flat_map(
      lambda s: tf.data.Dataset.range(start + s * global_batch, start + s * global_batch + local_batch)
  )


def make_dataset(
    config: ml_collections.ConfigDict,
    *,
    split: str,
    seed: int,
    global_batch: int,
    first_example: int = 0,
    num_steps: int | None = None,
    process_index: int = 0,
    process_count: int = 1,
    training: bool | None = None,
    bad_files: video_source.BadFiles | None = None,
    transform: Callable[[tf.Tensor, dict[str, tf.Tensor]], dict[str, tf.Tensor]] | None = None,
) -> tf.data.Dataset:
  """Batches of `{"video": float32 [local_batch, T, H, W, C] in [-1, 1], ...}`.

  Video sources add "label" (int32, -1 without class folders) and "path" of
  each clip's video.

  Args:
    config: the run's config (`config.data`, and `config.fps` for video sources).
    split: "train" or "test".
    seed: the run's seed; clips are a pure function of (seed, split, index).
    global_batch: clips per step over all processes.
    first_example: index of the first clip of the first global batch (the
      resume position: `step * global_batch` for a run that kept its batch size).
    num_steps: number of batches, or None for an endless stream.
    process_index, process_count: this process's slice of each global batch.
      Only this process's clips are decoded.
    training: random video order, clip starts, crops and flips; False gives
      the deterministic evaluation clips. Defaults to `split == "train"`.
    bad_files: collects the videos skipped as unusable (to log them).
    transform: `(index, example) -> example` applied to each clip before
      batching, e.g. the enhancer's (degraded, clean) patches
      (`data.degrade.make_pair_fn`); it must be a pure function of its inputs.
  """
  if global_batch % process_count:
    raise ValueError(f"global batch {global_batch} is not divisible by {process_count} processes.")
  source = config.data.source
  if source == "moving_mnist":
    clip_fn = _moving_mnist_fn(config, split, seed)
  else:
    training = split == "train" if training is None else training
    make_fn = {"folder": _folder_fn, "tfrecord": _tfrecord_fn, "tfds": _tfds_fn}[source]
    clip_fn = make_fn(config, split, seed, training, bad_files if bad_files is not None else video_source.BadFiles())
  ds = _local_indices(first_example, num_steps, global_batch, process_index, process_count)
  # Clip i is a pure function of i, so parallel decoding keeps the order.
  parallel_calls = tf.data.AUTOTUNE if config.data.num_parallel_calls == -1 else config.data.num_parallel_calls
  if transform is None:
    ds = ds.map(clip_fn, num_parallel_calls=parallel_calls, deterministic=True)
  else:
    ds = ds.map(lambda i: transform(i, clip_fn(i)), num_parallel_calls=parallel_calls, deterministic=True)
  if config.data.cache and source != "moving_mnist":
    # Only a finite, deterministic (evaluation) stream repeats its clips when iterated again.
    if training or num_steps is None:
      raise ValueError("config.data.cache=True: caching needs a finite evaluation stream (training=False, num_steps set);"
                       " training clips never repeat.")
    ds = ds.cache()
  ds = ds.batch(global_batch // process_count, drop_remainder=True)
  ds = ds.map(_to_model_range)
  return ds.prefetch(config.data.prefetch)

