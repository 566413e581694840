r"""Learn one video, then make new clips of it, extend it and enhance it: the product's own scenario.

  python -m videogan.main --config configs/one_video.py --config.data.folder=VIDEO --workdir runs/mine
  python -m videogan.main --config configs/one_video.py --config.data.folder=VIDEO --workdir runs/mine --mode sample
  python -m videogan.main --config configs/one_video.py --config.data.folder=VIDEO --workdir runs/mine \
      --mode extend --input VIDEO --seconds 20 --output runs/mine/extended.mp4
  python -m videogan.main --config configs/one_video.py --config.data.folder=VIDEO --workdir runs/mine --mode eval

`data.folder` is one video file. Its frames are resampled to 10 fps and scaled
to a shorter side of 64; the last `data.holdout_fraction` (20%) of them is held
out and never trained on (videogan/data/one_video.py); training clips are
windows of 12 frames from the rest, at random places, crops and mirrorings.

G continues 4 given frames by 8 (what `--mode extend` chains), and draws half
of each batch as whole clips without given frames (`model.context_dropout`),
which is what `--mode sample` writes and `--mode eval` scores. The generator
is the general `style` family (videogan/models/generators/style.py).

Variants (`get_config(arg)`): default; `tiny` (32x32, narrow layers; for tests);
`gru`, `conv_gru`: the same with another generator family, as compared in
docs/experiments/real_footage.md.
"""

import ml_collections

from videogan import config_base
from videogan.models import generators


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = arg or "default"
  variants = ("default", "tiny", "gru", "conv_gru")
  if variant not in variants:
    raise ValueError(f"Unknown one_video variant {variant!r}; expected one of {variants}.")
  config = config_base.base_config()
  config.fps = 10.0
  config.data.source = "folder"
  config.data.clip_len = 12  # 1.2 s; FVD's I3D needs >= 9 frames.
  config.data.image_size = 64
  config.data.channels = 3
  config.data.crop = "random"
  config.data.random_flip = True
  config.data.holdout_fraction = 0.2

  config.model.generator = generators.default_config("style", widths=(256, 128, 64, 32, 16))
  if variant in ("gru", "conv_gru"):
    config.model.generator = generators.default_config(variant, widths=(256, 128, 64, 32, 16), content_dim=128,
                                                       motion_noise_dim=32)
  config.model.context_frames = 4
  config.model.context_dropout = 0.5
  config.prediction_l1 = 10.0
  config.model.discriminator.spatial_widths = (32, 64, 128, 256)
  config.model.discriminator.temporal_widths = (32, 64, 128, 256)
  config.model.discriminator.pooling = "sum"

  config.batch_size = 4
  config.total_steps = 5000  # ~15 min alone on a 2-core VM (0.17 s/step; docs/experiments/real_footage.md).
  config.sample_every = 500
  config.fvd.num_real = 64
  config.fvd.num_generated = 64

  if variant == "tiny":
    config_base.tiny(config)
    config.data.clip_len = 10
    config.model.generator = generators.default_config("style", like=config.model.generator, content_dim=16,
                                                       motion_noise_dim=8, style_dim=16)
    config.batch_size = 4
    config.sample_every = 4
    config.fvd.num_real = config.fvd.num_generated = 8
  return config
