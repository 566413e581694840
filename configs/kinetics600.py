r"""Kinetics-600, 16 frames at 128x128: the large-scale benchmark of DVD-GAN.

The UCF-101 model (configs/ucf101.py) with wider D heads and a larger batch,
for the ~400k training clips of Kinetics-600. Meant for a TPU v5e-64 slice
(64 chips): mesh data=8 x fsdp=8, global batch 512 (8 clips per chip), the
state split 8 ways. See the README's "Scaling up" table for the numbers.

Data: TFDS `kinetics600` (its videos must be downloaded manually; see the TFDS
catalog, then `tfds build kinetics600 --data_dir DIR`). Variant `smoke`: toy
sizes, same mesh and rules, for tests on 8 fake CPU devices.
"""

import ml_collections

from videogan import config_base


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = arg or "default"
  if variant not in ("default", "smoke"):
    raise ValueError(f"Unknown kinetics600 variant {variant!r}; expected 'default' or 'smoke'.")
  config = config_base.base_config()
  config.fps = 25.0
  config.data.source = "tfds"
  config.data.tfds_name = "kinetics600"
  config.data.download = False
  config.data.clip_len = 16
  config.data.image_size = 128
  config.data.channels = 3

  config.model.conv_impl = "native"
  config.model.generator.widths = (1024, 1024, 512, 256, 128, 64)  # 4 .. 128 px
  config.model.generator.content_dim = 128
  config.model.generator.motion_noise_dim = 32
  config.model.generator.motion_dim = 128
  config.model.discriminator.spatial_widths = (64, 128, 256, 512, 1024)  # 128 -> 4 px
  config.model.discriminator.temporal_widths = (64, 128, 256, 512, 1024)  # 64 -> 2 px
  config.model.discriminator.spatial_frames = 8

  config.loss = "hinge"
  config.optimizer.g_learning_rate = 1e-4
  config.optimizer.d_learning_rate = 4e-4
  config.optimizer.b1 = 0.0
  config.optimizer.b2 = 0.999
  config.ema_decay = 0.9999
  config.batch_size = 512
  config.total_steps = 500_000

  config.mesh = ml_collections.ConfigDict({"data": -1, "fsdp": 8})
  config.log_every = 100
  config.checkpoint_every = 2000
  config.sample_every = 5000
  if variant == "smoke":
    config_base.shrink_for_smoke_test(config)
  return config
