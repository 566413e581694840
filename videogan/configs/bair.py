r"""BAIR robot pushing, 16 frames at 64x64 (TFDS `bair_robot_pushing_small`).

The field's 64x64 benchmark (used unconditionally here; prediction with
context frames comes with the conditioning work). Meant for a TPU v5e-8 slice
(8 chips, 16 GiB each, one host): mesh data=4 x fsdp=2, global batch 64 (8
clips per chip; XLA's float32 estimate of the step's temporaries: 4.4 GiB per chip).

Data: TFDS `bair_robot_pushing_small` (`tfds build bair_robot_pushing_small
--data_dir DIR --file_format=array_record`). Variant `smoke`: toy sizes for tests on 8 fake CPU devices.
"""

import ml_collections

from videogan import config_base


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = arg or "default"
  if variant not in ("default", "smoke"):
    raise ValueError(f"Unknown bair variant {variant!r}; expected 'default' or 'smoke'.")
  config = config_base.accelerator_recipe(config_base.base_config())
  config.fps = 10.0
  config.data.source = "tfds"
  config.data.tfds_name = "bair_robot_pushing_small"
  config.data.tfds_video_key = "image_main"  # 64x64 RGB; "image_aux1" is the second camera.
  config.data.source_fps = 10.0
  config.data.clip_len = 16
  config.data.image_size = 64

  config.model.generator.widths = (512, 512, 256, 128, 64)  # 4 .. 64 px
  config.model.discriminator.spatial_widths = (64, 128, 256, 512)  # 64 -> 4 px
  config.model.discriminator.temporal_widths = (64, 128, 256, 512)  # 32 -> 2 px

  config.ema_decay = 0.999
  config.batch_size = 64
  config.total_steps = 200_000

  config.mesh = ml_collections.ConfigDict({"data": -1, "fsdp": 2})
  if variant == "smoke":
    config_base.shrink_for_smoke_test(config)
  return config
