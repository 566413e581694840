"""tf.data pipelines that feed the trainer: per-process shards of global batches.

Sources here are *index-addressable*: example `i` of a split is a pure function
of (seed, i). The training stream from example `e` is batch `s` =
examples `[e + s * global_batch, e + (s + 1) * global_batch)`; process `p` of `P` reads the
contiguous `global_batch / P` of them at offset `p * global_batch / P`. The
global batch is therefore the same whatever the number of processes or devices,
and the data position is one number, the index of the next clip: a resumed run
starts there and neither replays nor skips a clip.
"""

import ml_collections
import numpy as np
import tensorflow as tf

from videogan import config_validation
from videogan.data import mnist, moving_mnist

# Split keys keep the train and eval streams independent for the same seed.
_SPLIT_SEED_OFFSET = {"train": 0, "test": 1_000_003}


def check_source(data_config: ml_collections.ConfigDict) -> None:
  """Fails, before anything is built, if `data_config.source` cannot be read yet."""
  if data_config.source != "moving_mnist":
    raise config_validation.ConfigError(
        f"config.data.source={data_config.source!r}: reading video datasets is not implemented yet (only "
        "'moving_mnist' can train); `--mode compile` builds and compiles this config without data."
    )


def _clip_fn(data_config: ml_collections.ConfigDict, split: str, seed: int):
  check_source(data_config)
  digits = mnist.load_digits(
      split,
      source=data_config.mnist_source,
      tfds_data_dir=data_config.tfds_data_dir,
      download=data_config.download,
  )
  return moving_mnist.make_clip_fn(
      tf.constant(digits),
      seed=seed + _SPLIT_SEED_OFFSET[split],
      clip_len=data_config.clip_len,
      canvas_size=data_config.image_size,
      num_digits=data_config.num_digits,
      step_length=data_config.step_length,
  )


def _local_indices(first_example: int, num_steps: int | None, global_batch: int, process_index: int, process_count: int) -> tf.data.Dataset:
  """Example indices this process reads, batch by batch, from `first_example` on."""
  local_batch = global_batch // process_count
  num_steps = (np.iinfo(np.int64).max - first_example) // global_batch if num_steps is None else num_steps
  start = first_example + process_index * local_batch
  return tf.data.Dataset.range(num_steps).flat_map(
      lambda s: tf.data.Dataset.range(start + s * global_batch, start + s * global_batch + local_batch)
  )


def make_dataset(
    data_config: ml_collections.ConfigDict,
    *,
    split: str,
    seed: int,
    global_batch: int,
    first_example: int = 0,
    num_steps: int | None = None,
    process_index: int = 0,
    process_count: int = 1,
) -> tf.data.Dataset:
  """Batches of `{"video": float32 [local_batch, T, H, W, C] in [-1, 1]}`.

  Args:
    data_config: `config.data`.
    split: "train" or "test".
    seed: the run's seed; clips are a pure function of (seed, split, index).
    global_batch: clips per step over all processes.
    first_example: index of the first clip of the first global batch (the
      resume position: `step * global_batch` for a run that kept its batch size).
    num_steps: number of batches, or None for an endless stream.
    process_index, process_count: this process's slice of each global batch.
  """
  if global_batch % process_count:
    raise ValueError(f"global batch {global_batch} is not divisible by {process_count} processes.")
  clip_fn = _clip_fn(data_config, split, seed)
  ds = _local_indices(first_example, num_steps, global_batch, process_index, process_count)
  ds = ds.map(clip_fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  ds = ds.batch(global_batch // process_count, drop_remainder=True)
  return ds.prefetch(data_config.prefetch)

