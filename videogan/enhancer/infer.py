"""Jitted inference of a trained enhancer, on videos and on generated clips.

A video is treated as a stream: output frame t needs input frames
t - r .. t + r (clamped at the ends, r = window // 2), so frames are read,
enhanced `chunk` at a time and written, holding only chunk + 2r input frames.
"""

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import jax
import mediapy
import ml_collections
import numpy as np
from absl import logging
from etils import epath

from videogan import checkpoint, config_base, parallel, paths, video_io
from videogan.configs import enhancer as enhancer_configs
from videogan.data import video_file
from videogan.enhancer.state import Models
from videogan.errors import InputError
from videogan.models.enhancer import SCALES, Enhancer
from videogan.video_io import check_output

PyTree = object


def make_apply_fn(model: Enhancer, mesh: jax.sharding.Mesh | None = None) -> Callable[[PyTree, np.ndarray], np.ndarray]:
  """`apply(params, windows [N, T, h, w, C] in [-1, 1]) -> float32 [N, h*s, w*s, C]`, jitted, frames sharded over `mesh`.

  N is padded up to a multiple of the mesh's batch shards, so every chunk size
  compiles once.
  """
  mesh = mesh or parallel.make_mesh(ml_collections.ConfigDict({"data": -1}))
  batch, replicated = parallel.batch_sharding(mesh), parallel.replicated(mesh)
  shards = mesh.size
  fn = jax.jit(lambda params, x: model.apply({"params": params}, x), in_shardings=(replicated, batch),
               out_shardings=replicated)

  def apply(params, windows):
    n = len(windows)
    pad = -n % shards
    if pad:
      windows = np.concatenate([windows, np.repeat(windows[-1:], pad, axis=0)])
    return np.asarray(fn(params, np.asarray(windows, np.float32)))[:n]

  return apply


def enhance_stream(apply: Callable[[np.ndarray], np.ndarray], frames: Iterable[np.ndarray], window: int,
                   chunk: int) -> Iterator[np.ndarray]:
  """Enhances a stream of frames [h, w, C] in [-1, 1]; yields the outputs, `chunk` frames [n, H, W, C] at a time.

  Output t sees input frames t - r .. t + r, clamped to the video (the first
  and last frames repeat at the ends); at most `chunk + 2r` input frames are held.
  """
  r = window // 2
  frames = iter(frames)
  buffer, first = [], 0  # buffer[i] is input frame first + i.
  next_out, ended = 0, False
  while True:
    while not ended and first + len(buffer) < next_out + chunk + r:
      try:
        buffer.append(np.asarray(next(frames), np.float32))
      except StopIteration:
        ended = True
    total = first + len(buffer)  # Frames read so far (all of them once `ended`).
    n = min(chunk, total - next_out) if ended else chunk
    if n <= 0:
      return
    taps = np.arange(next_out, next_out + n)[:, None] + np.arange(-r, r + 1)[None, :]
    taps = np.clip(taps, 0, total - 1)  # Before the end, t + r < total already.
    yield apply(np.stack(buffer)[taps - first])
    next_out += n
    drop = max(0, next_out - r - first)
    buffer, first = buffer[drop:], first + drop


def _restore_dir(workdir: paths.PathLike) -> epath.Path:
  directory = checkpoint.checkpoint_dir(workdir)
  if not directory.is_dir() or not any(directory.iterdir()):
    raise InputError(f"No enhancer checkpoint in {directory}: train one with --mode train_enhancer "
                     f"--config configs/enhancer.py --workdir {workdir}.")
  return directory


def load(workdir: paths.PathLike, scale: int | None = None, step: int | None = None):
  """The enhancer saved in `workdir`: (config, model, params). Its config comes from the checkpoint.

  Raises `InputError` for a missing checkpoint, a GAN checkpoint, or a model of
  another `scale`.
  """
  if scale is not None and scale not in SCALES:
    raise InputError(f"--scale={scale}: unsupported; expected one of {SCALES}.")
  directory = _restore_dir(workdir)
  ckpt = checkpoint.Checkpointer(directory, save_every=1, keep=1_000_000)
  try:
    saved = ckpt.restore_config(step)
    if "scale" not in saved.get("model", {}):
      raise InputError(f"{directory}: holds a GAN checkpoint, not an enhancer (--mode train_enhancer writes those).")
    # Over the defaults of the `bicubic` variant: a checkpoint from before `degrade.resize` existed trained so.
    config = config_base.over_defaults(enhancer_configs.get_config("bicubic"), saved)
    if scale is not None and scale != config.model.scale:
      raise InputError(f"{directory}: the checkpoint is a x{config.model.scale} enhancer; --scale={scale} was asked "
                       f"(train a x{scale} model: --config.model.scale={scale}, or omit --scale).")
    models = Models.from_config(config)
    target = models.abstract_state(config, parallel.make_mesh(ml_collections.ConfigDict({"data": -1})))
    state, _ = ckpt.restore(target, step)
  finally:
    ckpt.close()
  return config, models.model, state.params


def _check_input(path: str | Path) -> video_file.VideoInfo:
  path = Path(path)
  if not path.is_file():
    raise InputError(f"--input={path}: no such file.")
  if path.suffix.lower() not in video_file.EXTENSIONS:
    raise InputError(f"--input={path}: expected a video ({', '.join(video_file.EXTENSIONS)}).")
  try:
    return video_file.probe(path)
  except video_file.VideoError as e:
    raise InputError(f"--input={path}: {e.reason}.") from None


def _uint8_frames(path: str | Path) -> Iterator[np.ndarray]:
  """Decoded RGB frames of `path`, one at a time (uint8 [H, W, 3])."""
  video_io.use_bundled_ffmpeg()
  with mediapy.VideoReader(path) as reader:
    yield from reader


def enhance_video(workdir: paths.PathLike, input_path: str | Path, output_path: paths.PathLike,
                  scale: int | None = None, step: int | None = None, chunk: int = 8,
                  crf: float | None = None) -> tuple[epath.Path, int, float]:
  """Enhances `input_path` into `output_path` (mp4: lossless, or 4:2:0 at `crf`; gif; lossless mkv) at the same fps.

  Returns (path, frames, fps).

  Streams: frames are decoded, enhanced and encoded `chunk` at a time. The
  output appears (atomically renamed) only once complete.
  """
  output_path = check_output(output_path)
  info = _check_input(input_path)
  config, model, params = load(workdir, scale, step)
  apply = make_apply_fn(model)
  s = config.model.scale
  height, width = info.height * s, info.width * s
  inputs = (f.astype(np.float32) / 127.5 - 1.0 for f in _uint8_frames(input_path))
  video_io.use_bundled_ffmpeg()
  count, t0 = 0, time.perf_counter()
  with paths.local_staging(output_path) as tmp:
    with mediapy.VideoWriter(tmp, shape=(height + height % 2, width + width % 2), fps=info.fps,
                             **video_io.writer_options(output_path.suffix, crf, lossless=True)) as writer:
      for out in enhance_stream(lambda w: apply(params, w), inputs, config.model.window, chunk):
        for frame in video_io.rgb_even(video_io.to_uint8(out)):
          writer.add_image(frame)
        count += len(out)
        logging.log_every_n_seconds(logging.INFO, "Enhanced %d frames (%.1f frames/s).", 10, count,
                                    count / (time.perf_counter() - t0))
    if count == 0:
      raise InputError(f"--input={input_path}: no frames could be decoded.")
  return output_path, count, info.fps


def enhance_clips(enhancer, clips: np.ndarray, chunk: int = 8) -> np.ndarray:
  """uint8 clips [N, T, H, W, C] (C = 1 or 3) -> enhanced uint8 [N, T, H*s, W*s, 3], each clip on its own.

  `enhancer` is what `load` returns.
  """
  config, model, params = enhancer
  apply = make_apply_fn(model)
  clips = np.asarray(clips)
  if clips.shape[-1] == 1:
    clips = np.repeat(clips, 3, axis=-1)
  out = []
  for clip in clips:
    frames = (f.astype(np.float32) / 127.5 - 1.0 for f in clip)
    out.append(video_io.to_uint8(np.concatenate(list(enhance_stream(lambda w: apply(params, w), frames,
                                                                    config.model.window, chunk)))))
  return np.stack(out)
