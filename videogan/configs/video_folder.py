r"""Your own videos: a folder of mp4/avi/mov/mkv/webm/gif files, 16 frames at 64x64.

  python -m videogan.main --config configs/video_folder.py --config.data.folder=DIR --workdir /tmp/mine

Sub-folders `train/` and `test/` choose the splits (else a hash of each path,
`data.eval_fraction`); first-level folders below them are class labels. Frames
are resampled to `config.fps`, the shorter side scaled to 64 and a random
64x64 crop taken (centre for evaluation), mirrored half of the time.
Unreadable or too-short files are skipped and logged with their path.

To decode once instead of at every clip, write TFRecord shards and train on them:

  python -m videogan.prepare DIR /data/mine_tfr
  python -m videogan.main --config configs/video_folder.py --config.data.source=tfrecord \
      --config.data.tfrecord_dir=/data/mine_tfr --workdir /tmp/mine

Variants (`get_config(arg)`): default (64x64 RGB), `128` (128x128, one more
G and D block) and `tiny` (32x32, 4 frames, narrow layers; for tests).
"""

import ml_collections

from videogan import config_base
from videogan.models import generators


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = arg or "default"
  if variant not in ("default", "128", "tiny"):
    raise ValueError(f"Unknown video_folder variant {variant!r}; expected 'default', '128' or 'tiny'.")
  config = config_base.base_config()
  config.fps = 10.0
  config.data.source = "folder"
  config.data.clip_len = 16
  config.data.image_size = 64
  config.data.channels = 3
  config.data.crop = "random"
  config.data.random_flip = True

  # The general generator for natural video (the `style` family; why: docs/experiments/real_footage.md).
  config.model.generator = generators.default_config("style", widths=(256, 128, 64, 32, 16))
  config.model.discriminator.spatial_widths = (32, 64, 128, 256)
  config.model.discriminator.temporal_widths = (32, 64, 128, 256)
  config.batch_size = 8
  config.total_steps = 20_000
  # On CPU the batch splits over the cores: on 2 cores the step is 1.15x as fast at 64x64, 1.27x at 128x128
  # (docs/performance.md).
  config.cpu_devices = 0

  if variant == "128":
    config.data.image_size = 128
    config.model.generator.widths = (256, 128, 64, 32, 16, 8)  # 4 .. 128 px
    config.model.discriminator.spatial_widths = (32, 64, 128, 256, 256)  # 128 -> 4 px
    config.model.discriminator.temporal_widths = (32, 64, 128, 256, 256)  # 64 -> 2 px
  if variant == "tiny":
    config_base.tiny(config)
    config.model.generator.style_dim = 16
    config.batch_size = 4
    config.sample_every = 4
  return config
