"""Test videos with known content, written with the ffmpeg that imageio-ffmpeg ships.

A "counter" video shows the frame number k in binary as eight vertical stripes
(bit b white when set), which survives lossy codecs, so frame order, fps
resampling and crops can be asserted exactly.
"""

from pathlib import Path

import imageio_ffmpeg
import numpy as np

CODECS = {".mp4": "libx264", ".webm": "libvpx-vp9", ".gif": "gif", ".avi": "mpeg4", ".mkv": "libx264", ".mov": "libx264"}


def counter_frames(num_frames: int, size: int = 64) -> np.ndarray:
  """uint8 [n, size, size, 3]; frame k shows k in binary, bit b in stripe b (8 px wide at 64 px)."""
  stripe = size // 8
  bits = (np.arange(num_frames)[:, None] >> np.arange(8)) & 1  # [n, 8]
  frames = np.repeat(bits * 255, stripe, axis=1).astype(np.uint8)  # [n, size]
  return np.broadcast_to(frames[:, None, :, None], (num_frames, size, size, 3)).copy()


def read_counter(video: np.ndarray) -> np.ndarray:
  """Frame numbers shown by counter frames `[T, S, S, C]` (uint8 or [-1, 1] floats)."""
  video = np.asarray(video, np.float32)
  if video.min() < 0:
    video = (video + 1) * 127.5
  s = video.shape[2]
  stripes = video.mean(axis=(1, 3)).reshape(video.shape[0], 8, s // 8)[..., 1:-1].mean(-1)  # Stripe centres.
  return ((stripes > 127).astype(np.int64) << np.arange(8)).sum(-1)


def write_video(path: Path, frames: np.ndarray, fps: float) -> Path:
  path.parent.mkdir(parents=True, exist_ok=True)
  codec = CODECS[path.suffix]
  pix_fmt = "rgb24" if codec == "gif" else "yuv420p"
  writer = imageio_ffmpeg.write_frames(
      str(path), (frames.shape[2], frames.shape[1]), fps=fps, codec=codec, pix_fmt_out=pix_fmt,
      macro_block_size=1, output_params=["-crf", "10"] if codec in ("libx264", "libvpx-vp9") else ["-q:v", "2"]
      if codec == "mpeg4" else [],
  )
  writer.send(None)
  for frame in frames:
    writer.send(np.ascontiguousarray(frame))
  writer.close()
  return path
