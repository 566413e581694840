r"""Sky Time-lapse (Xiong et al., 2018), 16 frames at 128x128, from a folder of videos.

Sky Time-lapse is not in TFDS: download it from its authors and point
`--config.data.folder` at a directory with its clips in `train/` and `test/`
(renamed from sky_train/ and sky_test/), or run `python -m videogan.prepare`
on it and train with `data.source="tfrecord"`. The UCF-101 model at the
same 128x128 scale (as in DIGAN and StyleGAN-V's 128 px experiments), meant
for a TPU v4-32 slice (16 chips): mesh data=4 x fsdp=4, global batch 64
(4 clips per chip; memory as in configs/ucf101.py).
Variant `smoke`: toy sizes, same mesh and rules, for tests on 8 fake devices.
"""

import ml_collections

from videogan import config_base


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = arg or "default"
  if variant not in ("default", "smoke"):
    raise ValueError(f"Unknown sky_timelapse variant {variant!r}; expected 'default' or 'smoke'.")
  config = config_base.accelerator_recipe(config_base.base_config())
  config.fps = 25.0
  config.data.source = "folder"
  config.data.folder = "data/sky_timelapse"
  config.data.clip_len = 16
  config_base.model_128px(config)
  config.batch_size = 64
  config.total_steps = 100_000

  config.mesh = ml_collections.ConfigDict({"data": -1, "fsdp": 4})
  if variant == "smoke":
    config_base.shrink_for_smoke_test(config)
  return config
