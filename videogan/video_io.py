"""Writing clips as mp4/gif/png, and tiling them into grids, with mediapy; local paths or gs:// URLs."""

import functools
import math

import imageio_ffmpeg
import mediapy
import numpy as np
from etils import epath

from videogan import errors, paths

VIDEO_SUFFIXES = (".mp4", ".gif", ".mkv")
PREVIEW_SUFFIXES = (".mp4", ".gif")  # What --mode sample writes per clip: small files any browser plays.
# By suffix: (ffmpeg codec, pixel format written). mkv is lossless (FFV1, full-resolution RGB planes);
# mp4 is h264 with 4:2:0 chroma at `crf` (mediapy's default quality when None).
CODECS = {".mp4": ("h264", None), ".gif": ("gif", None), ".mkv": ("ffv1", "gbrp")}


# A user's --output mp4 without --crf: h264 with RGB planes at CRF 0, which is lossless. 4:2:0 h264 even at
# CRF 0 lost up to 3.1 dB of an enhancer's output on clean footage (docs/enhancer.md, "Results on footage it
# never saw"); this plays in ffmpeg-based players (VLC, mpv), not in browsers, which --crf's 4:2:0 files do.
LOSSLESS_MP4 = {"codec": "libx264rgb", "encoded_format": "rgb24", "crf": 0}


def writer_options(suffix: str, crf: float | None = None, lossless: bool = False) -> dict:
  """mediapy.VideoWriter keyword arguments for a file with `suffix`.

  mp4: h264 4:2:0 at `crf`; without one, lossless RGB h264 if `lossless`, else mediapy's default quality.
  """
  if suffix == ".mp4" and crf is None and lossless:
    return dict(LOSSLESS_MP4)
  codec, encoded_format = CODECS[suffix]
  options = {"codec": codec, **({"encoded_format": encoded_format} if encoded_format else {})}
  if crf is not None and suffix == ".mp4":
    options["crf"] = crf
  return options


@functools.cache
def use_bundled_ffmpeg() -> None:
  # mediapy looks for `ffmpeg` on PATH; use the binary that imageio-ffmpeg ships
  # (<0.8: mediapy 1.2.7 cannot read with the ffmpeg 9 of 0.8).
  mediapy.set_ffmpeg(imageio_ffmpeg.get_ffmpeg_exe())


def to_uint8(video: np.ndarray) -> np.ndarray:
  """Maps values in [-1, 1] to uint8 [0, 255] (clipping outliers)."""
  return np.round((np.clip(np.asarray(video, np.float32), -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)


def grid(videos: np.ndarray, columns: int | None = None, pad: int = 2) -> np.ndarray:
  """Tiles `[N, T, H, W, C]` into one `[T, rows*(H+pad)+pad, cols*(W+pad)+pad, C]`."""
  n, t, h, w, c = videos.shape
  columns = columns or math.ceil(math.sqrt(n))
  rows = math.ceil(n / columns)
  out = np.zeros((t, rows * (h + pad) + pad, columns * (w + pad) + pad, c), videos.dtype)
  for i in range(n):
    y, x = pad + (i // columns) * (h + pad), pad + (i % columns) * (w + pad)
    out[:, y : y + h, x : x + w] = videos[i]
  return out


def rgb_even(frames: np.ndarray) -> np.ndarray:
  """[T, H, W, C] uint8 -> RGB with even H and W (yuv420p needs even sides)."""
  if frames.ndim != 4 or frames.shape[-1] not in (1, 3):
    raise ValueError(f"expected frames [T, H, W, 1 or 3], got shape {frames.shape}.")
  if frames.shape[-1] == 1:
    frames = np.repeat(frames, 3, axis=-1)
  _, h, w, _ = frames.shape
  return np.pad(frames, [(0, 0), (0, h % 2), (0, w % 2), (0, 0)])


def write_video(path: paths.PathLike, frames: np.ndarray, fps: float, crf: float | None = None,
                lossless: bool = False) -> epath.Path:
  """Writes uint8 `[T, H, W, C]` as an mp4, gif or lossless mkv, by `path`'s suffix, in one piece (`writer_options`).

  ffmpeg writes a temporary file that then replaces `path` (paths.local_staging),
  so a failure leaves nothing partial.
  """
  path = paths.resolve(path)
  if path.suffix not in VIDEO_SUFFIXES:
    raise ValueError(f"{path}: video suffix must be one of {VIDEO_SUFFIXES}.")
  use_bundled_ffmpeg()
  with paths.local_staging(path) as tmp:
    mediapy.write_video(tmp, rgb_even(frames), fps=fps, **writer_options(path.suffix, crf, lossless))
  return path


def read_video(path: paths.PathLike) -> tuple[np.ndarray, float]:
  """Reads a video as uint8 `[T, H, W, 3]` and its fps."""
  use_bundled_ffmpeg()
  with paths.local_copy(path) as local:
    video = mediapy.read_video(local)
  return np.asarray(video), float(video.metadata.fps)


def write_image(path: paths.PathLike, image: np.ndarray) -> epath.Path:
  """Writes uint8 `[H, W, C]` as a PNG."""
  image = np.asarray(image)
  with paths.local_staging(path) as tmp:
    mediapy.write_image(tmp, image[..., 0] if image.shape[-1] == 1 else image, fmt="png")
  return paths.resolve(path)


def check_output(path: paths.PathLike) -> epath.Path:
  """`path` if it names a video file videogan can write (mp4, gif or mkv); else `InputError`."""
  path = paths.resolve(path)
  if path.suffix not in VIDEO_SUFFIXES:
    raise errors.InputError(f"--output={path}: expected a {', '.join(VIDEO_SUFFIXES)} file (.mkv: lossless).")
  return path


def write_video_atomically(path: paths.PathLike, frames: np.ndarray, fps: float,
                           crf: float | None = None) -> epath.Path:
  """A user's --output: checks `path` is an mp4, gif or mkv, then writes `frames` there in one piece, lossless
  unless `crf` is given (see writer_options)."""
  return write_video(check_output(path), frames, fps, crf, lossless=True)
