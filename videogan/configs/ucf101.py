r"""UCF-101, 16 frames at 128x128: the standard unconditional video GAN benchmark.

DVD-GAN-like scale (Clark et al., 2019 train UCF-101 at 128x128): G widths
1024 -> 64 over 4..128 px, dual D with k=8 sampled frames, hinge loss,
two-time-scale Adam (G 1e-4, D 4e-4, b1=0), long EMA.

Meant for a TPU v4-32 slice (16 chips, 32 GiB each): mesh data=4 x fsdp=4,
global batch 64 (4 clips per chip; XLA's estimate of the step's temporaries in
float32 is ~14 GiB per chip at 4 clips, ~28 GiB at 8). Parameters, Adam
moments and EMA are split 4 ways. See the table in docs/scaling.md for the
parameter counts and the per-device memory and FLOPs of the compiled step
(from `--mode compile` on 16 fake CPU devices) and the step-time estimate.

  python -m videogan.main --config configs/ucf101.py --mode compile      # check memory first
  python -m videogan.main --config configs/ucf101.py --workdir /mnt/shared/ucf101 --distributed=on  # a dir all hosts share

Data: TFDS `ucf101` (prepare it with `tfds build ucf101 --data_dir DIR
--file_format=array_record` and
set --config.data.tfds_data_dir=DIR). Variant `smoke`: toy sizes, same mesh
and rules, for tests on 8 fake CPU devices.
"""

import ml_collections

from videogan import config_base


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = arg or "default"
  if variant not in ("default", "smoke"):
    raise ValueError(f"Unknown ucf101 variant {variant!r}; expected 'default' or 'smoke'.")
  config = config_base.accelerator_recipe(config_base.base_config())
  config.fps = 25.0
  config.data.source = "tfds"
  config.data.tfds_name = "ucf101"
  config.data.source_fps = 25.0
  config.data.random_flip = True
  config.data.clip_len = 16
  config_base.model_128px(config)
  config.batch_size = 64
  config.total_steps = 300_000

  config.mesh = ml_collections.ConfigDict({"data": -1, "fsdp": 4})
  if variant == "smoke":
    config_base.shrink_for_smoke_test(config)
  return config
