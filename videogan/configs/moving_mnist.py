r"""Moving MNIST, 16 frames at 64x64: the built-in default that runs on a laptop.

  python -m videogan.main --config configs/moving_mnist.py --workdir /tmp/mmnist
  python -m videogan.main --config configs/moving_mnist.py:tiny --workdir /tmp/tiny

Variants (`get_config(arg)`):
  default: layered-sprite G sized for two CPU cores (~23 min on a 2-core VM).
  predict: video prediction, the field's Moving MNIST protocol: 5 given
           frames -> 11 generated (extend clips with --mode extend).
  i2v:     image-to-video: 1 given frame -> 15 generated (--mode animate).
  general: the general natural-video generator (`style`, as configs/video_folder.py) in
           place of the sprites, with the default's D and budget: what it does without the prior.
  layered: `general` with the style family's sprite layers (`sprite_layers=2`: two sprites
           with opacity at sub-pixel places, moved by a GRU over the synthesised frames), none of
           the default's Moving-MNIST drawing (brightest pixel wins, whole pixels, black).
  tiny:    32x32, 4 frames, a few narrow layers; for tests and debugging.
  tiny_predict: tiny with 2 given frames -> 2 generated.

How each choice was measured: docs/experiments/moving_mnist.md.
"""

import ml_collections

from videogan import config_base
from videogan.models import generators


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = arg or "default"
  variants = ("default", "general", "layered", "predict", "i2v", "tiny", "tiny_predict")
  if variant not in variants:
    raise ValueError(f"Unknown moving_mnist variant {variant!r}; expected one of {variants}.")
  config = config_base.base_config()

  # Data: two MNIST digits bouncing in a 64x64 grayscale canvas, generated on the fly.
  config.data.source = "moving_mnist"
  config.data.clip_len = 16
  config.data.image_size = 64
  config.data.channels = 1
  config.data.num_digits = 2

  # G: two sprites decoded once per clip and moved by a GRU, drawn as the data draws its digits
  # (the brighter pixel wins, whole-pixel places, on black), which keeps each digit's shape.
  config.model.generator = generators.default_config(
      "sprites", widths=(256, 128, 64, 32, 16), num_sprites=2, sprite_decoder="shared", sprite_blend="max",
      sprite_positions="pixel", sprite_background=False, block_depth=2)
  # D: a spatial head on 4 frames (two convs per resolution) and a temporal head on the half-size
  # clip, each summing its last features over positions, so a digit is judged alike anywhere.
  config.model.discriminator.spatial_widths = (16, 32, 64, 128)
  config.model.discriminator.temporal_widths = (16, 32, 64, 128)
  config.model.discriminator.spatial_frames = 4
  config.model.discriminator.spatial_depth = 2
  config.model.discriminator.pooling = "sum"
  config.optimizer.g_learning_rate = 5e-4
  config.optimizer.d_learning_rate = 5e-4

  # Sized for two CPU cores: ~0.1 s/step; the digit score still rises at 12000 steps.
  config.batch_size = 4
  config.total_steps = 12000
  config.ema_decay = 0.995  # A short horizon (~200 steps) suits a short run.
  config.mesh = ml_collections.ConfigDict({"data": -1, "fsdp": 1})

  if variant in ("general", "layered"):
    config.model.generator = generators.default_config("style", widths=(128, 64, 32, 16, 8))
    config.total_steps = 5000  # Its step costs ~2.4x the sprites' (benchmarks/train_step.py): the same ~16 min.
  if variant == "layered":  # 7% more time per step (docs/results/step_time_general_sprites_amd_epyc.json).
    config.model.generator.sprite_layers = 2
  if variant in ("predict", "i2v"):
    # A G that decodes every frame, so it can carry the given frames' digits forward, with D's
    # plain heads; an L1 pull toward the true future frames joins L_G (gan/train_step.py).
    config.model.generator = generators.default_config("gru", widths=(128, 64, 32, 16, 8))
    config.model.discriminator.spatial_depth = 1
    config.model.discriminator.pooling = "flatten"
    config.optimizer.g_learning_rate = config.optimizer.d_learning_rate = 2e-4
    config.model.context_frames = 5 if variant == "predict" else 1
    config.prediction_l1 = 20.0
    config.total_steps = 8000
  if variant.startswith("tiny"):
    # The suite's common model: the default's data and losses, the `gru` G at toy sizes.
    config.model.generator = generators.default_config("gru")
    config.model.discriminator.spatial_depth = 1
    config.model.discriminator.pooling = "flatten"
    config.optimizer.g_learning_rate = config.optimizer.d_learning_rate = 2e-4
    config_base.tiny(config)
    config.batch_size = 8
    config.sample_every = 2
  if variant == "tiny_predict":
    config.model.context_frames = 2
  return config
