"""Reading frames out of video files with the ffmpeg that `imageio-ffmpeg` ships.

One ffmpeg process per clip does all the pixel work: it decodes the file, keeps
only the frames a clip needs (the `select` filter, by exact frame number),
scales them, converts them to RGB or grayscale and stops after the last one.
Python only chooses the frame numbers and reads the raw bytes from the pipe,
so many clips decode in parallel (ffmpeg runs outside the GIL).

Frame numbers for a clip of `clip_len` frames at `target_fps` from a video at
`src_fps`, starting at frame `start`, with `stride` (on top of the resampling):

  step = stride * src_fps / target_fps       (stride alone when no target fps)
  index_j = start + floor(j * step)          j = 0 .. clip_len - 1

so 30 fps -> 10 fps takes frames 0, 3, 6, ... and 25 -> 10 takes 0, 2, 5, 7, 10.
"""

import dataclasses
import functools
import math
import subprocess
import warnings
from pathlib import Path

import imageio_ffmpeg
import numpy as np

EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif")

# JAX warns on every fork of its (multithreaded) process. Starting ffmpeg is a
# fork immediately followed by exec in C, which runs no Python or JAX code in
# the child, so that warning does not apply here.
warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)


class VideoError(Exception):
  """A file that cannot be used as a video, with the reason."""

  def __init__(self, path: str | Path, reason: str):
    super().__init__(f"{path}: {reason}")
    self.path = str(path)
    self.reason = reason


@dataclasses.dataclass(frozen=True)
class VideoInfo:
  fps: float
  num_frames: int  # From the container header (duration x fps); `count_frames` is exact.
  width: int
  height: int


@functools.cache
def _ffmpeg() -> str:
  return imageio_ffmpeg.get_ffmpeg_exe()


def _first_error_line(stderr: bytes) -> str:
  lines = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
  return lines[-1].strip() if lines else "ffmpeg failed without a message"


def probe(path: str | Path) -> VideoInfo:
  """Reads the header of `path`; raises `VideoError` if it is not a readable video."""
  path = Path(path)
  if not path.is_file():
    raise VideoError(path, "no such file")
  if path.stat().st_size == 0:
    raise VideoError(path, "empty file (0 bytes)")
  try:
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    reader.close()
  except (OSError, RuntimeError, StopIteration, ValueError) as e:
    raise VideoError(path, f"not a readable video ({str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__})") from None
  fps, duration = float(meta.get("fps") or 0), float(meta.get("duration") or 0)
  width, height = meta.get("size", (0, 0))
  if fps <= 0 or width <= 0 or height <= 0:
    raise VideoError(path, f"no video stream with a frame rate and size (fps={fps}, size={width}x{height})")
  return VideoInfo(fps=fps, num_frames=max(int(round(duration * fps)), 0), width=int(width), height=int(height))


def count_frames(path: str | Path) -> int:
  """Decodes all of `path` and returns its exact number of frames."""
  try:
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
  except (OSError, RuntimeError, ValueError) as e:
    raise VideoError(path, f"cannot count frames ({e})") from None
  return int(frames)


def frame_step(src_fps: float, target_fps: float | None, stride: int = 1) -> float:
  """Source frames per clip frame (see the module docstring)."""
  return stride * (src_fps / target_fps if target_fps else 1.0)


def clip_span(clip_len: int, step: float) -> int:
  """Number of source frames a clip covers, first to last inclusive."""
  return math.floor((clip_len - 1) * step + 1e-9) + 1


def frame_indices(start: int, clip_len: int, step: float) -> np.ndarray:
  """`start + floor(j * step)` for j < clip_len (1e-9 absorbs rounding of exact ratios)."""
  return start + np.floor(np.arange(clip_len) * step + 1e-9).astype(np.int64)


def scaled_size(width: int, height: int, shorter_side: int) -> tuple[int, int]:
  """(width, height) scaled so the shorter side is `shorter_side` (aspect kept)."""
  scale = shorter_side / min(width, height)
  return max(shorter_side, round(width * scale)), max(shorter_side, round(height * scale))


def read_frames(path: str | Path, indices: np.ndarray | None, size: tuple[int, int], channels: int = 3) -> np.ndarray:
  """Frames `indices` (sorted, repeats allowed; None = all) of `path` as uint8 `[n, H, W, channels]`.

  `size` is (width, height) of the output; frames are scaled with area
  averaging (the right filter for shrinking). Frames past the end of the video
  are missing from the result (it can be shorter than `indices`).
  """
  width, height = size
  filters = [f"scale={width}:{height}:flags=area"]
  limit = []
  if indices is not None:
    indices = np.asarray(indices, np.int64)
    unique, counts = np.unique(indices, return_counts=True)
    filters.insert(0, "select='" + "+".join(f"eq(n\\,{i})" for i in unique) + "'")
    limit = ["-frames:v", str(len(unique))]  # Stop decoding after the last needed frame.
  cmd = [
      _ffmpeg(), "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v:0", "-vf", ",".join(filters),
      "-fps_mode", "passthrough", *limit, "-f", "rawvideo", "-pix_fmt", {1: "gray", 3: "rgb24"}[channels], "-",
  ]
  result = subprocess.run(cmd, capture_output=True, check=False)
  if result.returncode != 0:
    raise VideoError(path, f"ffmpeg could not decode it ({_first_error_line(result.stderr)})")
  frame_bytes = width * height * channels
  n = len(result.stdout) // frame_bytes
  frames = np.frombuffer(result.stdout[: n * frame_bytes], np.uint8).reshape(n, height, width, channels)
  # Repeat the frames that `indices` repeats (upsampled frame rates).
  return frames if indices is None else np.repeat(frames, counts[:n], axis=0)
