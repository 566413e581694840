"""Workdirs and outputs on local disk or Cloud Storage (gs://) alike, through etils.epath.

`epath.Path` reads and writes gs:// URLs with TensorFlow's GCS client (the
credentials of the machine: a TPU VM's service account, or
`gcloud auth application-default login`); local paths behave as pathlib's.
Writers that need a real file name (ffmpeg, numpy's savez) write a local
temporary file that `local_staging` then uploads in one piece.
"""

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator

from etils import epath

PathLike = str | os.PathLike


def is_local(path: PathLike) -> bool:
  """False for URLs (gs://, s3://, ...), True for file system paths."""
  return "://" not in os.fspath(path)


def resolve(path: PathLike) -> epath.Path:
  """`path` as an `epath.Path`: local paths with ~ expanded and made absolute, URLs unchanged."""
  if is_local(path):
    return epath.Path(os.path.abspath(os.path.expanduser(os.fspath(path))))
  return epath.Path(path)


@contextlib.contextmanager
def local_staging(path: PathLike) -> Iterator[str]:
  """Yields a local file name to write `path`'s contents to; on success it becomes `path` at once.

  Local: a temporary file next to `path`, renamed over it (atomic on one file
  system). gs://: a local temporary file uploaded as one object (uploads are
  atomic: readers see the old object or the new one). On failure nothing of
  the new contents is left.
  """
  path = resolve(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  local = is_local(path)
  fd, tmp = tempfile.mkstemp(suffix=path.suffix, prefix=".tmp_", dir=str(path.parent) if local else None)
  os.close(fd)
  try:
    yield tmp
    if local:
      os.chmod(tmp, 0o644)  # mkstemp's 0600 would make outputs private to this user.
      os.replace(tmp, path)
    else:
      epath.Path(tmp).copy(path, overwrite=True)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


@contextlib.contextmanager
def local_copy(path: PathLike) -> Iterator[str]:
  """Yields a local file name with `path`'s contents: `path` itself if local, else a downloaded copy."""
  if is_local(path):
    yield os.path.expanduser(os.fspath(path))
    return
  path = epath.Path(path)
  with tempfile.TemporaryDirectory() as tmp:
    local = os.path.join(tmp, path.name)
    path.copy(local)
    yield local


def write_text_atomically(path: PathLike, text: str) -> None:
  with local_staging(path) as tmp, open(tmp, "w") as f:
    f.write(text)


def move_tree(src: PathLike, dst: PathLike) -> None:
  """Moves directory `src` to `dst` (Cloud Storage has no directories: each object copied, then deleted)."""
  src, dst = resolve(src), resolve(dst)
  if is_local(src) and is_local(dst):
    shutil.move(src, dst)
    return
  for root, _, files in src.walk():
    for name in files:
      target = dst / root.relative_to(src) / name
      target.parent.mkdir(parents=True, exist_ok=True)
      (root / name).copy(target, overwrite=True)
  src.rmtree()
