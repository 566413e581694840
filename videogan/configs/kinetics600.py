r"""Kinetics-600, 16 frames at 128x128: the large-scale benchmark of DVD-GAN.

The UCF-101 model (configs/ucf101.py) with a wider generator and a larger
batch, for the ~400k training clips of Kinetics-600. Meant for a TPU v4-256
slice (128 chips, 32 GiB each): mesh data=16 x fsdp=8, global batch 256
(2 clips per chip: XLA's float32 estimate of the step's temporaries is ~9 GiB
per clip per chip for this model), the state split 8 ways. See the table in
docs/scaling.md for the numbers.

Data: TFDS `kinetics600` (its videos must be downloaded manually; see the TFDS
catalog, then `tfds build kinetics600 --data_dir DIR
--file_format=array_record`). Variant `smoke`: toy
sizes, same mesh and rules, for tests on 8 fake CPU devices.
"""

import ml_collections

from videogan import config_base


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = arg or "default"
  if variant not in ("default", "smoke"):
    raise ValueError(f"Unknown kinetics600 variant {variant!r}; expected 'default' or 'smoke'.")
  config = config_base.accelerator_recipe(config_base.base_config())
  config.fps = 25.0
  config.data.source = "tfds"
  config.data.tfds_name = "kinetics600"
  config.data.source_fps = 25.0  # Frame rate the TFDS build stores; check yours.
  config.data.tfds_eval_split = "validation"
  config.data.random_flip = True
  config.data.clip_len = 16
  config_base.model_128px(config)
  config.model.generator.widths = (1024, 1024, 512, 256, 128, 64)  # Wider at 8 px than UCF-101's.
  config.batch_size = 256
  config.total_steps = 500_000

  config.mesh = ml_collections.ConfigDict({"data": -1, "fsdp": 8})
  if variant == "smoke":
    config_base.shrink_for_smoke_test(config)
  return config
