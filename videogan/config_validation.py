"""Checks a config before anything is built or compiled.

Each error names the config key, the value found and what was expected, so a
typo on the command line fails in a second instead of after compilation.
"""

from collections.abc import Callable
from typing import Any

import ml_collections

from videogan import losses
from videogan.data import mnist, moving_mnist
from videogan.models import layers


class ConfigError(ValueError):
  """A config value is missing, of the wrong kind, or out of range."""


def _check(config: ml_collections.ConfigDict, key: str, ok: Callable[[Any], bool], expected: str) -> None:
  value = config
  for part in key.split("."):
    value = value[part]
  try:
    good = ok(value)
  except TypeError:
    good = False
  if not good:
    raise ConfigError(f"config.{key}={value!r}: expected {expected}.")


def _positive_int(x) -> bool:
  return isinstance(x, int) and not isinstance(x, bool) and x > 0


def validate(config: ml_collections.ConfigDict, num_devices: int | None = None) -> None:
  """Raises `ConfigError` naming the first bad key; `num_devices` checks the batch split."""
  one_of = lambda options: (lambda x: x in options)  # noqa: E731
  _check(config, "data.source", one_of(("moving_mnist",)), "'moving_mnist'")
  _check(config, "data.mnist_source", one_of(mnist.SOURCES), f"one of {mnist.SOURCES}")
  for key in ("data.clip_len", "data.image_size", "data.num_digits", "data.prefetch", "batch_size",
              "total_steps", "log_every", "checkpoint_every", "keep_checkpoints", "sample_every",
              "sample.num_clips", "model.generator.content_dim", "model.generator.motion_noise_dim",
              "model.generator.motion_dim", "model.generator.temporal_kernel",
              "model.discriminator.spatial_frames"):
    _check(config, key, _positive_int, "a positive integer")
  _check(config, "data.channels", one_of((1,)), "1 (Moving MNIST is grayscale)")
  _check(config, "data.image_size", lambda s: s >= moving_mnist.DIGIT_SIZE,
         f">= {moving_mnist.DIGIT_SIZE} (the MNIST digit size)")
  _check(config, "data.step_length", lambda x: 0 <= x <= 1, "a number in [0, 1]")
  _check(config, "fps", lambda x: x > 0, "a positive frame rate")

  _check(config, "model.conv_impl", one_of(layers.IMPLS), f"one of {layers.IMPLS}")
  size = config.data.image_size
  _check(config, "model.generator.widths",
         lambda w: len(w) >= 2 and all(_positive_int(c) for c in w) and 4 * 2 ** (len(w) - 1) == size,
         f"positive channel counts at 4, 8, ..., {size} px (4 * 2**(len - 1) must equal data.image_size={size})")
  for key, side in (("spatial_widths", size), ("temporal_widths", size // 2)):
    _check(config, f"model.discriminator.{key}",
           lambda w, side=side: len(w) >= 1 and all(_positive_int(c) for c in w) and side % 2 ** len(w) == 0,
           f"positive channel counts, one per stride-2 conv, with {side} px divisible by 2**len")
  _check(config, "model.discriminator.spatial_frames", lambda k: k <= config.data.clip_len,
         f"at most data.clip_len={config.data.clip_len}")
  _check(config, "model.discriminator.spectral_norm", lambda x: isinstance(x, bool), "True or False")

  _check(config, "loss", one_of(tuple(losses.GAN_LOSSES)), f"one of {tuple(losses.GAN_LOSSES)}")
  _check(config, "r1_weight", lambda x: x >= 0, "a number >= 0")
  _check(config, "ema_decay", lambda x: 0 <= x < 1, "a number in [0, 1)")
  for key in ("optimizer.g_learning_rate", "optimizer.d_learning_rate"):
    _check(config, key, lambda x: x > 0, "a positive learning rate")
  for key in ("optimizer.b1", "optimizer.b2"):
    _check(config, key, lambda x: 0 <= x < 1, "a number in [0, 1)")
  _check(config, "mesh", lambda m: len(m) >= 1 and all(isinstance(v, int) and (v > 0 or v == -1) for v in m.values()),
         "axis names mapped to sizes (positive, or -1 for the remaining devices)")
  if num_devices is not None:
    _check(config, "batch_size", lambda b: b % num_devices == 0, f"a multiple of the {num_devices} devices")
