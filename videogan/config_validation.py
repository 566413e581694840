"""Checks a config before anything is built or compiled.

Each error names the config key, the value found and what was expected, so a
typo on the command line fails in a second instead of after compilation.
"""

import math
import re
from collections.abc import Callable
from typing import Any

import jax
import ml_collections

from videogan import augment, config_base, losses, parallel
from videogan.data import degrade, mnist, moving_mnist
from videogan.errors import ConfigError
from videogan.models import discriminator as discriminator_lib
from videogan.models import enhancer, generators, layers
from videogan.models.generators import sprites, style

MESH_AXES = ("data", "fsdp", "model")
DATA_SOURCES = ("moving_mnist", "folder", "tfrecord", "tfds")
FVD_PROTOCOLS = ("custom", *config_base.FVD_PROTOCOLS)
DECAYS = ("none", "linear")  # config.optimizer.decay: constant learning rates, or falling linearly to 0.



def _check(config: ml_collections.ConfigDict, key: str, ok: Callable[[Any], bool], expected: str) -> None:
  value = config
  for part in key.split("."):
    value = value[part]
  try:
    good = ok(value)
  except (TypeError, ValueError, re.error):
    good = False
  if not good:
    raise ConfigError(f"config.{key}={value!r}: expected {expected}.")


def _positive_int(x) -> bool:
  return isinstance(x, int) and not isinstance(x, bool) and x > 0


def _one_of(options):
  return lambda x: x in options


def validate_data(config: ml_collections.ConfigDict) -> None:
  """Checks `config.data` (and `config.fps`), for any model."""
  one_of = _one_of
  _check(config, "data.source", one_of(DATA_SOURCES), f"one of {DATA_SOURCES}")
  for key in ("data.clip_len", "data.image_size", "data.prefetch"):
    _check(config, key, _positive_int, "a positive integer")
  if config.data.source == "moving_mnist":
    _check(config, "data.mnist_source", one_of(mnist.SOURCES), f"one of {mnist.SOURCES}")
    _check(config, "data.num_digits", _positive_int, "a positive integer")
    _check(config, "data.channels", one_of((1,)), "1 (Moving MNIST is grayscale)")
    _check(config, "data.image_size", lambda s: s >= moving_mnist.DIGIT_SIZE,
           f">= {moving_mnist.DIGIT_SIZE} (the MNIST digit size)")
    _check(config, "data.step_length", lambda x: 0 <= x <= 1, "a number in [0, 1]")
  elif config.data.source == "tfds":
    _check(config, "data.tfds_name", lambda x: isinstance(x, str) and x, "a TFDS dataset name, e.g. 'ucf101'")
    for key in ("data.tfds_video_key", "data.tfds_train_split", "data.tfds_eval_split"):
      _check(config, key, lambda x: isinstance(x, str) and x, "a non-empty string")
    _check(config, "data.source_fps", lambda x: x is None or x > 0, "a positive frame rate or None (= config.fps)")
  elif config.data.source == "tfrecord":
    _check(config, "data.tfrecord_dir", lambda x: isinstance(x, str) and x, "a directory written by videogan.prepare")
  else:
    _check(config, "data.folder", lambda x: isinstance(x, str) and x, "a directory of video files or one video file")
  if config.data.source != "moving_mnist":
    _check(config, "data.frame_stride", _positive_int, "a positive integer")
    _check(config, "data.short_videos", one_of(("skip", "pad")), "'skip' or 'pad'")
    _check(config, "data.crop", one_of(("random", "center")), "'random' or 'center'")
    _check(config, "data.random_flip", lambda x: isinstance(x, bool), "True or False")
    _check(config, "data.cache", lambda x: isinstance(x, bool), "True or False")
    _check(config, "data.eval_fraction", lambda x: 0 <= x < 1, "a fraction in [0, 1)")
    _check(config, "data.holdout_fraction", lambda x: 0 <= x < 1, "a fraction in [0, 1) of one video's frames")
    _check(config, "data.shorter_side", lambda x: x is None or (isinstance(x, int) and x >= 0),
           "None (= data.image_size), 0 (native size) or a side in pixels")
  _check(config, "data.num_parallel_calls", lambda x: x == -1 or _positive_int(x), "a positive integer or -1 (AUTOTUNE)")
  _check(config, "data.channels", one_of((1, 3)), "1 or 3")
  _check(config, "fps", lambda x: x > 0, "a positive frame rate")


def validate_mesh(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh | None) -> None:
  """Checks `config.mesh`; with `mesh`, that `config.batch_size` splits over its batch shards and the processes."""
  _check(config, "mesh", lambda m: len(m) >= 1 and set(m) <= set(MESH_AXES)
         and all(isinstance(v, int) and not isinstance(v, bool) and (v > 0 or v == -1) for v in m.values())
         and list(m.values()).count(-1) <= 1,
         f"axes from {MESH_AXES} mapped to sizes (positive, or -1 for the remaining devices, at most once)")
  if mesh is not None:
    shards = math.prod(mesh.shape[a] for a in mesh.axis_names if a in parallel.BATCH_AXES)
    _check(config, "batch_size", lambda b: b % shards == 0,
           f"a multiple of the {shards} batch shards (mesh data x fsdp = {dict(mesh.shape)})")
    _check(config, "batch_size", lambda b: b % jax.process_count() == 0,
           f"a multiple of the {jax.process_count()} processes")


def validate(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh | None = None) -> None:
  """Raises `ConfigError` naming the first bad key of a GAN config; with `mesh`, also checks the batch split."""
  if "generator" not in config.get("model", {}):
    raise ConfigError("config.model has no generator: this is not a GAN config (configs/enhancer.py configures the "
                      "enhancer: use --mode train_enhancer with it).")
  one_of = _one_of
  validate_data(config)
  for key in ("batch_size", "total_steps", "log_every", "checkpoint_every", "keep_checkpoints", "sample_every",
              "sample.num_clips", "model.discriminator.spatial_frames", "model.discriminator.spatial_depth"):
    _check(config, key, _positive_int, "a positive integer")

  _check(config, "model.conv_impl", one_of(layers.IMPLS), f"one of {layers.IMPLS}")
  _check(config, "model.compute_dtype", one_of(("float32", "bfloat16")), "'float32' or 'bfloat16'")
  clip_len = config.data.clip_len
  _check(config, "model.context_frames", lambda k: isinstance(k, int) and 0 <= k < clip_len,
         f"an integer in [0, data.clip_len={clip_len}) (frames given; the rest are generated)")
  _check(config, "model.num_classes", lambda n: isinstance(n, int) and n >= 0, "an integer >= 0")
  _check(config, "model.context_dropout", lambda x: x == 0 or (0 < x < 1 and config.model.context_frames > 0),
         "0, or a fraction in (0, 1) of each batch drawn without context by a model with model.context_frames > 0")
  _check(config, "model.rollout_fraction", lambda x: x == 0 or (0 < x <= 1 and config.model.context_frames > 0),
         "0, or a fraction in (0, 1] of the clips given context continued again by a model with "
         "model.context_frames > 0")
  _check(config, "prediction_l1", lambda x: x == 0 or (x > 0 and config.model.context_frames > 0),
         "0, or > 0 for a prediction model (model.context_frames > 0)")
  if config.model.num_classes and config.data.source == "moving_mnist":
    raise ConfigError("config.model.num_classes>0 needs labelled clips; data.source='moving_mnist' has none "
                      "(use a folder with class sub-folders, or a labelled TFDS dataset).")
  size = config.data.image_size
  validate_generator(config)
  _check(config, "model.generator.output_upsample", one_of((1, 2, 4)), "1, 2 or 4")
  r = config.model.generator.output_upsample
  _check(config, "model.generator.widths",
         lambda w: len(w) >= 2 and all(_positive_int(c) for c in w) and 4 * 2 ** (len(w) - 1) * r == size,
         f"positive channel counts at 4, 8, ... px with 4 * 2**(len - 1) * model.generator.output_upsample ({r}) "
         f"equal to data.image_size={size}")
  for key, side in (("spatial_widths", size), ("temporal_widths", size // 2)):
    _check(config, f"model.discriminator.{key}",
           lambda w, side=side: len(w) >= 1 and all(_positive_int(c) for c in w) and side % 2 ** len(w) == 0,
           f"positive channel counts, one per stride-2 conv, with {side} px divisible by 2**len")
  _check(config, "model.discriminator.spatial_frames", lambda k: k <= config.data.clip_len,
         f"at most data.clip_len={config.data.clip_len}")
  _check(config, "model.discriminator.spectral_norm", lambda x: isinstance(x, bool), "True or False")
  _check(config, "model.discriminator.pooling", one_of(discriminator_lib.POOLINGS),
         "'flatten' (a logit weight per position) or 'sum' (features summed over positions)")

  _check(config, "loss", one_of(tuple(losses.GAN_LOSSES)), f"one of {tuple(losses.GAN_LOSSES)}")
  _check(config, "augment", lambda p: isinstance(p, str) and all(x in augment.POLICIES for x in augment.parse(p)),
         f"a comma-separated subset of {augment.POLICIES} (DiffAugment's transforms), or '' for none")
  _check(config, "r1_weight", lambda x: x >= 0, "a number >= 0")
  _check(config, "r1_every", _positive_int, "a positive integer (steps between R1 penalties)")
  _check(config, "ema_decay", lambda x: 0 <= x < 1, "a number in [0, 1)")
  _check(config, "ema_rampup", lambda x: x >= 0, "a number >= 0 (0: no warm-up)")
  for key in ("optimizer.g_learning_rate", "optimizer.d_learning_rate"):
    _check(config, key, lambda x: x > 0, "a positive learning rate")
  _check(config, "optimizer.eps", lambda x: x > 0, "a positive number (Adam's epsilon)")
  _check(config, "optimizer.decay", one_of(DECAYS), "'none' (constant learning rates) or 'linear'")
  _check(config, "optimizer.decay_begin", lambda t: isinstance(t, int) and 0 <= t < config.total_steps,
         f"a step in [0, total_steps={config.total_steps})")
  for key in ("optimizer.b1", "optimizer.b2"):
    _check(config, key, lambda x: 0 <= x < 1, "a number in [0, 1)")
  for key in ("fvd.num_real", "fvd.num_generated", "fvd.batch_size", "fvd.periodic_clips"):
    _check(config, key, lambda n: _positive_int(n) and n >= 2, "an integer >= 2")
  _check(config, "fvd.every", lambda n: isinstance(n, int) and n >= 0, "an integer >= 0 (0: no FVD during training)")
  _check(config, "fvd.every", lambda n: n == 0 or config.data.clip_len >= 9,
         f"0 with data.clip_len={config.data.clip_len} (FVD's I3D needs clips of at least 9 frames)")
  _check(config, "fvd.real_split", one_of(("train", "test")), "'train' or 'test'")
  _check(config, "fvd.protocol", one_of(FVD_PROTOCOLS), f"one of {FVD_PROTOCOLS}")
  _check(config, "fvd.protocol", lambda p: p == "custom" or config.data.clip_len == 16,
         f"'custom' with data.clip_len={config.data.clip_len} (the papers' protocols score 16-frame clips)")
  _check(config, "fvd.resize", one_of(("bilinear_tf1", "bilinear")), "'bilinear_tf1' or 'bilinear'")
  validate_mesh(config, mesh)
  _check(config, "sharding.min_size", lambda x: isinstance(x, int) and x >= 0, "an integer >= 0")
  _check(config, "sharding.rules", lambda rules: all(_valid_rule(r, config.mesh) for r in rules),
         "(path regex, spec) pairs with spec 'fsdp', 'replicated' or a tuple of mesh axis names / None")


def validate_generator(config: ml_collections.ConfigDict) -> None:
  """`config.model.generator`: a family's name and exactly that family's options (videogan/models/generators/)."""
  g = config.model.generator
  _check(config, "model.generator.name", _one_of(tuple(generators.FAMILIES)),
         "one of " + ", ".join(repr(name) for name in generators.FAMILIES) + " (videogan/models/generators/)")
  expected, got = set(generators.default_config(g.name)), set(g)
  if expected != got:
    problems = [f"{sorted(got - expected)} not options of it" if got - expected else "",
                f"{sorted(expected - got)} missing" if expected - got else ""]
    raise ConfigError(
        f"config.model.generator: the {g.name!r} generator's block has {' and '.join(p for p in problems if p)}; "
        f"build it with videogan.models.generators.default_config({g.name!r}, like=...) in the config file.")
  for key in sorted(expected & {"content_dim", "motion_noise_dim", "motion_dim", "temporal_kernel", "num_sprites",
                                "block_depth", "style_dim", "motion_period"}):
    _check(config, f"model.generator.{key}", _positive_int, "a positive integer")
  if g.name == "style":
    _check(config, "model.generator.normalization", _one_of(style.NORMALIZATIONS),
           "'pixel' (each pixel's features) or 'instance' (AdaIN: each frame's channel over its pixels)")
  if g.name == "sprites":
    _check(config, "model.generator.sprite_blend", _one_of(sprites.SPRITE_BLENDS),
           "'over' (sprites with opacity, back to front) or 'max' (each pixel the brightest layer's)")
    _check(config, "model.generator.sprite_decoder", _one_of(sprites.SPRITE_DECODERS),
           "'shared' (one map per layer, decoded by the same blocks) or 'joint' (one map for all layers)")
    _check(config, "model.generator.sprite_positions", _one_of(sprites.SPRITE_POSITIONS),
           "'subpixel' (sprites drawn at fractional places) or 'pixel' (at the nearest whole pixel)")
    _check(config, "model.generator.sprite_background", lambda x: isinstance(x, bool), "True or False")


def _valid_rule(rule, mesh_config) -> bool:
  pattern, spec = rule
  re.compile(pattern)
  if spec in ("fsdp", "replicated"):
    return True
  return isinstance(spec, (tuple, list)) and all(a is None or a in mesh_config for a in spec)


def validate_enhancer(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh | None = None) -> None:
  """Raises `ConfigError` naming the first bad key of an enhancer config (configs/enhancer.py)."""
  if "scale" not in config.get("model", {}):
    raise ConfigError("config.model has no scale: --mode train_enhancer needs an enhancer config (configs/enhancer.py).")
  validate_data(config)
  for key in ("batch_size", "total_steps", "log_every", "checkpoint_every", "keep_checkpoints", "eval_every",
              "eval.chunk", "model.features", "model.num_blocks", "patch_size", "patches_per_clip"):
    _check(config, key, _positive_int, "a positive integer")
  _check(config, "model.scale", _one_of(enhancer.SCALES), f"one of {enhancer.SCALES}")
  _check(config, "model.window", lambda w: _positive_int(w) and w % 2 == 1, "an odd number of frames (centre + neighbours)")
  _check(config, "data.clip_len", lambda t: t == config.model.window, f"equal to model.window={config.model.window}")
  hr = config.patch_size * config.model.scale
  _check(config, "patch_size", lambda p: p * config.model.scale > degrade.MAX_BLUR_RADIUS,
         f"with model.scale={config.model.scale}, clean patches wider than {degrade.MAX_BLUR_RADIUS} px (the blur's radius)")
  _check(config, "data.image_size", lambda s: s >= hr, f">= patch_size * model.scale = {hr} (patches are cut from it)")
  _check(config, "batch_size", lambda b: b % config.patches_per_clip == 0,
         f"a multiple of patches_per_clip={config.patches_per_clip}")
  _check(config, "eval.num_frames", lambda n: isinstance(n, int) and n >= 0, "an integer >= 0 (0: all frames)")
  _check(config, "loss", _one_of(("charbonnier", "l1")), "'charbonnier' or 'l1'")
  _check(config, "charbonnier_eps", lambda x: x > 0, "a positive number")
  _check(config, "adversarial_weight", lambda x: x >= 0, "a number >= 0")
  _check(config, "discriminator.widths", lambda w: len(w) >= 1 and all(_positive_int(c) for c in w),
         "positive channel counts")
  max_blur = degrade.MAX_BLUR_SIGMA
  for kind, bounds in (("blur", (0, max_blur)), ("noise", (0, 1)), ("poisson", (1e-3, 1e6)), ("jpeg", (1, 100))):
    _check(config, f"degrade.{kind}_prob", lambda p: 0 <= p <= 1, "a probability in [0, 1]")
    key = {"blur": "blur_sigma", "noise": "noise_sigma", "poisson": "poisson_peak", "jpeg": "jpeg_quality"}[kind]
    _check(config, f"degrade.{key}", lambda r, b=bounds: len(r) == 2 and b[0] <= r[0] <= r[1] <= b[1],
           f"a (low, high) range within [{bounds[0]:g}, {bounds[1]:g}]")
  _check(config, "degrade.resize", lambda r: len(r) >= 1 and all(m in degrade.RESIZE_METHODS for m in r),
         f"one or more of {degrade.RESIZE_METHODS}")
  _check(config, "degrade.antialias_prob", lambda p: 0 <= p <= 1, "a probability in [0, 1]")
  _check(config, "eval.kinds", lambda k: len(k) >= 1 and all(x in degrade.EVAL_KINDS for x in k),
         f"one or more of {tuple(degrade.EVAL_KINDS)}")
  _check(config, "eval_degrade.resize", _one_of(degrade.RESIZE_METHODS), f"one of {degrade.RESIZE_METHODS}")
  _check(config, "eval_degrade.blur_sigma", lambda x: 0 <= x <= max_blur, f"a std in [0, {max_blur:g}] pixels")
  _check(config, "eval_degrade.noise_sigma", lambda x: 0 <= x <= 1, "a std in [0, 1]")
  _check(config, "eval_degrade.poisson_peak", lambda x: x >= 0, "0 (off) or photons at white > 0")
  _check(config, "eval_degrade.jpeg_quality", lambda q: isinstance(q, int) and 0 <= q <= 100, "0 (off) or a quality in [1, 100]")
  for key in ("optimizer.learning_rate", "optimizer.d_learning_rate"):
    _check(config, key, lambda x: x > 0, "a positive learning rate")
  _check(config, "optimizer.warmup_steps", lambda x: isinstance(x, int) and 0 <= x < config.total_steps,
         "an integer in [0, total_steps)")
  for key in ("optimizer.b1", "optimizer.b2"):
    _check(config, key, lambda x: 0 <= x < 1, "a number in [0, 1)")
  validate_mesh(config, mesh)
  clips = config.batch_size // config.patches_per_clip
  _check(config, "batch_size", lambda b: clips % jax.process_count() == 0,
         f"batch_size / patches_per_clip = {clips} clips per step, a multiple of the {jax.process_count()} processes")
