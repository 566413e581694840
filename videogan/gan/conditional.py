"""Conditional generation: continue a clip, animate a still image, long rollouts.

One function per job, usable from a notebook:

  frames = extend(config, workdir, "clip.mp4", seconds=20)     # uint8 [T, H, W, C]
  frames = animate(config, workdir, "still.png", seconds=3)
  frames = rollout(gan, g_params, context, num_frames, rng)    # the engine, in [-1, 1]

A model trained with `model.context_frames = k` generates `clip_len - k`
frames after k given ones. `rollout` chains such windows: each window's
context is the last k frames so far (given or generated), and its new frames
are appended, until the requested length; the given frames come back
unchanged at the start. Sampling uses the EMA generator.
"""

import json
import math
from pathlib import Path

import jax
import ml_collections
import numpy as np
from absl import logging

from videogan import paths, video_io
from videogan.data import one_video, video_file, video_source
from videogan.errors import InputError
from videogan.gan import sample
from videogan.gan import state as state_lib
from videogan.models.gan import VideoGAN

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")



def rollout(gan: VideoGAN, g_params, context: np.ndarray, num_frames: int, rng: jax.Array,
            label: np.ndarray | None = None, sample_fn=None) -> np.ndarray:
  """Continues `context` [B, n, H, W, C] in [-1, 1] (n >= k) to `num_frames` frames.

  Returns float32 [B, num_frames, H, W, C] whose first n frames are `context`.
  """
  k, new_per_window = gan.context_frames, gan.clip_len - gan.context_frames
  if k < 1:
    raise InputError("this model is unconditional (model.context_frames=0); it cannot continue frames.")
  context = np.asarray(context, np.float32)
  if context.shape[1] < k:
    raise InputError(f"the model continues {k} frame(s); got {context.shape[1]}.")
  sample_fn = sample_fn or sample.make_sample_fn(gan)
  frames = [context]
  have, windows = context.shape[1], math.ceil(max(num_frames - context.shape[1], 0) / new_per_window)
  for i in range(windows):
    cond = {"context": np.concatenate(frames, axis=1)[:, -k:]}
    if label is not None:
      cond["label"] = label
    clip = np.asarray(sample_fn(g_params, gan.latents(jax.random.fold_in(rng, i), context.shape[0]), cond))
    frames.append(clip[:, k:])
    have += new_per_window
    logging.info("Rollout: window %d/%d, %d/%d frames.", i + 1, windows, min(have, num_frames), num_frames)
  return np.concatenate(frames, axis=1)[:, :num_frames]


def load_video(path: str | Path, image_size: int, channels: int, fps: float) -> np.ndarray:
  """All of a video resampled to `fps`, shorter side `image_size`, centre-cropped: uint8 [T, S, S, C]."""
  path = Path(path)
  if path.suffix.lower() in IMAGE_SUFFIXES:
    raise InputError(f"{path}: is a still image; `--mode extend` continues a video (use --mode animate for an image).")
  if path.suffix.lower() not in video_file.EXTENSIONS:
    raise InputError(f"{path}: expected a video ({', '.join(video_file.EXTENSIONS)}).")
  try:
    frames = one_video.decode(str(path), fps, image_size, channels)
  except video_file.VideoError as e:
    raise InputError(str(e)) from None
  if len(frames) == 0:
    raise InputError(f"{path}: no frames could be decoded.")
  return video_source.crop_and_flip(frames, image_size, None, False)


def load_image(path: str | Path, image_size: int, channels: int) -> np.ndarray:
  """A still image, shorter side `image_size`, centre-cropped: uint8 [1, S, S, C]."""
  path = Path(path)
  if path.suffix.lower() not in IMAGE_SUFFIXES:
    raise InputError(f"{path}: expected a still image ({', '.join(IMAGE_SUFFIXES)}); use --mode extend for a video.")
  try:
    info = video_file.probe(path)
    frames = video_file.read_frames(path, np.array([0]), video_file.scaled_size(info.width, info.height, image_size),
                                    channels)
  except video_file.VideoError as e:
    raise InputError(str(e)) from None
  return video_source.crop_and_flip(frames, image_size, None, False)


def _frames_for(seconds: float, fps: float) -> int:
  if not seconds > 0:
    raise InputError(f"--seconds={seconds}: expected a positive duration.")
  return max(1, round(seconds * fps))


def _label(gan: VideoGAN, label: int | None, batch: int) -> np.ndarray | None:
  if label is None:
    if gan.num_classes:
      raise InputError(f"this model is class-conditional ({gan.num_classes} classes): pass --label in [0, {gan.num_classes}).")
    return None
  if not gan.num_classes:
    raise InputError(f"--label={label}: this model is unconditional (model.num_classes=0).")
  if not 0 <= label < gan.num_classes:
    raise InputError(f"--label={label}: expected a class in [0, {gan.num_classes}).")
  return np.full((batch,), label, np.int32)


def _restore(config: ml_collections.ConfigDict, workdir: str | Path, step: int | None, gan: VideoGAN):
  """EMA generator params of the checkpoint and an rng for sampling from it."""
  state = state_lib.restore_from_workdir(config, workdir, gan, step)
  return state.ema_g_params, jax.random.fold_in(jax.random.key(config.seed), int(state.step))


def frame_changes(frames: np.ndarray) -> np.ndarray:
  """Mean absolute change of 0-255 pixels between consecutive frames: [T - 1]."""
  f = np.asarray(frames, np.float32)
  return np.abs(np.diff(f, axis=0)).mean(axis=tuple(range(1, f.ndim)))


def seam_report(given: np.ndarray, out: np.ndarray, fps: float) -> dict:
  """Seam and motion of `out` (uint8 [T, ...]), whose first len(given) frames are `given`."""
  changes, given_changes = frame_changes(out), frame_changes(given)
  k = len(given)
  last = out[-max(2, round(5 * fps)) :]
  return {
      "frames": len(out), "given_frames": k,
      "seam_change": float(changes[k - 1]),
      "median_change_of_input": float(np.median(given_changes)),
      "seam_over_median": float(changes[k - 1] / max(np.median(given_changes), 1e-9)),
      "mean_change_last_5s": float(frame_changes(last).mean()),
      "mean_change_of_input": float(given_changes.mean()),
      "last_5s_over_input": float(frame_changes(last).mean() / max(given_changes.mean(), 1e-9)),
  }


def extend(config: ml_collections.ConfigDict, workdir: str | Path, input_path: str | Path, seconds: float,
           label: int | None = None, step: int | None = None, from_training_part: bool = False,
           report_path: str | Path | None = None) -> np.ndarray:
  """`input_path` resampled to the model's fps and size, continued to `seconds`: uint8 [T, S, S, C].

  With `from_training_part`, only the input's first part as a one-video run
  splits it (all but the last `data.holdout_fraction`) is kept and continued,
  so the continuation can be set beside the held-out end of the same video.
  `report_path`: where to write the seam and motion figures (`seam_report`) as JSON.
  """
  data = config.data
  given = load_video(input_path, data.image_size, data.channels, config.fps)
  if from_training_part:
    given = given[: one_video.split_point(len(given), data.holdout_fraction)]
  total = _frames_for(seconds, config.fps)
  if total <= len(given):
    raise InputError(f"--seconds={seconds}: {total} frames at {config.fps:g} fps is not longer than the input "
                     f"({len(given)} frames = {len(given) / config.fps:g} s).")
  gan = VideoGAN.from_config(config)
  if gan.context_frames < 1:
    raise InputError("this model is unconditional (model.context_frames=0); train a prediction model to extend clips.")
  if len(given) < gan.context_frames:
    raise InputError(f"{input_path}: {len(given)} frames at {config.fps:g} fps; the model needs at least "
                     f"{gan.context_frames} to continue.")
  labels = _label(gan, label, 1)
  g_params, rng = _restore(config, workdir, step, gan)
  context = given[None].astype(np.float32) / 127.5 - 1.0
  out = video_io.to_uint8(rollout(gan, g_params, context, total, rng, labels))[0]
  out[: len(given)] = given  # Exactly the input, not its round trip through [-1, 1].
  report = seam_report(given, out, config.fps)
  logging.info("Extended %d frames to %d: %s", len(given), len(out), report)
  if report_path is not None:
    paths.write_text_atomically(report_path, json.dumps(report, indent=2))
  return out


def animate(config: ml_collections.ConfigDict, workdir: str | Path, input_path: str | Path, seconds: float,
            label: int | None = None, step: int | None = None) -> np.ndarray:
  """A still image brought to life for `seconds`: uint8 [T, S, S, C], frame 0 the image."""
  data = config.data
  image = load_image(input_path, data.image_size, data.channels)
  total = _frames_for(seconds, config.fps)
  gan = VideoGAN.from_config(config)
  if gan.context_frames != 1:
    raise InputError(f"--mode animate needs an image-to-video model (model.context_frames=1); this config has "
                     f"{gan.context_frames}.")
  labels = _label(gan, label, 1)
  g_params, rng = _restore(config, workdir, step, gan)
  out = video_io.to_uint8(rollout(gan, g_params, image[None].astype(np.float32) / 127.5 - 1.0, total, rng, labels))[0]
  out[:1] = image
  return out

