"""What an FVD on real footage means: reference rows, diversity, copying and extension, measured alike.

On a one-video (or folder) run, `--mode eval` adds to the FVD of generated
clips against the held-out windows (`evaluate.py`) the same FVD of clips whose
quality is known, each set as large as the generated one:

  training_windows     real windows of the training part: the floor a model can reach
  frozen_first_frame   held-out windows with their first frame repeated: right pictures, no motion
  shuffled_in_time     held-out windows with their frames in a random order: motion destroyed
  training_windows_frozen, training_windows_shuffled
                       the same two made from training windows: what the floor becomes without
                       its motion (where the held-out part shows a scene the training part never
                       does, as after a cut, only these are within a model's reach)
  last_window_repeated the training part's last window, every clip the same (one video only)
  noise                uniform noise

and two checks on what G draws:

  diversity  the mean pairwise pixel distance between generated clips, beside the
             same between held-out windows and between training windows;
  copying    each clip's distance to its nearest training window (every start,
             every 4 px of horizontal shift, both mirror images), for generated
             clips beside held-out windows: a model that replays the video
             draws clips much nearer to a training window than new footage is.

Distances are root-mean-square differences of 0-255 pixels at a quarter of the
resolution (4x4 averages), so a shift of a pixel or two is not a difference.

For a prediction model (one video, `model.context_frames`): `extension` continues
the training part by as many frames as the whole video has and reports the FVD
of windows of the new frames against the held-out windows, and the seam: the
mean absolute frame-to-frame change at the seam against the video's median one.
"""

import hashlib
import json
import os

import jax
import ml_collections
import numpy as np

from videogan import paths, video_io
from videogan.data import one_video, pipeline, video_source
from videogan.gan import conditional
from videogan.gan import evaluate as fvd_lib
from videogan.models.gan import VideoGAN

POOL = 4  # Distances at a quarter of the resolution.
SHIFT = 4  # Horizontal shifts of training windows searched, in pixels.


def pooled(clips: np.ndarray) -> np.ndarray:
  """uint8 [N, T, H, W, C] -> float32 [N, T, H/4, W/4, C] (4x4 means)."""
  n, t, h, w, c = clips.shape
  x = np.asarray(clips, np.float32)[:, :, : h - h % POOL, : w - w % POOL]
  return x.reshape(n, t, h // POOL, POOL, w // POOL, POOL, c).mean(axis=(3, 5))


def mean_pairwise(clips: np.ndarray) -> float:
  """Mean RMS distance over all pairs of clips (pooled)."""
  x = pooled(clips).reshape(len(clips), -1)
  sq = (x**2).sum(1)
  d2 = np.maximum(sq[:, None] + sq[None] - 2 * x @ x.T, 0) / x.shape[1]
  return float(np.sqrt(d2)[np.triu_indices(len(x), 1)].mean())


def training_windows(frames: np.ndarray, n_train: int, clip_len: int, size: int) -> np.ndarray:
  """Every training window (start, 4 px shift, mirror) of a one-video's frames, pooled: [M, D]."""
  w = frames.shape[2]
  out = []
  for start in range(n_train - clip_len + 1):
    for x in range(0, w - size + 1, SHIFT):
      clip = frames[None, start : start + clip_len, :size, x : x + size]
      out += [pooled(clip), pooled(clip[:, :, :, ::-1])]
  return np.concatenate(out).reshape(len(out), -1)


def nearest_distance(clips: np.ndarray, windows: np.ndarray) -> np.ndarray:
  """Each clip's RMS distance to its nearest window ([M, D] pooled): [N]."""
  x = pooled(clips).reshape(len(clips), -1)
  d2 = (x**2).sum(1)[:, None] + (windows**2).sum(1)[None] - 2 * x @ windows.T
  return np.sqrt(np.maximum(d2.min(axis=1), 0) / x.shape[1])


def _collect(config, num: int, split: str) -> np.ndarray:
  return np.concatenate(list(fvd_lib.real_clips(config, num, split, config.fvd.seed)))[:num]


def report(config: ml_collections.ConfigDict, extractor: fvd_lib.FeatureExtractor, generated: np.ndarray,
           real_stats: tuple[np.ndarray, np.ndarray], gan: VideoGAN, g_params) -> dict:
  """The rows, diversity, copying (and extension) for `generated` uint8 clips; see the module docstring."""
  mu_r, sigma_r = real_stats
  n = len(generated)

  def fvd(clips: np.ndarray) -> float:
    return fvd_lib.frechet_distance(mu_r, sigma_r, *fvd_lib.gaussian(extractor(clips)))

  held, train = _collect(config, n, "test"), _collect(config, n, "train")
  one = pipeline.is_one_video(config)
  if one:
    data = config.data
    parts = one_video.load_parts(os.path.expanduser(data.folder), config.fps, data.image_size, data.channels,
                                 data.holdout_fraction, data.clip_len)
    centre = video_source.crop_and_flip(parts.frames, data.image_size, None, False)  # What --mode extend reads.
    last = centre[parts.n_train - data.clip_len : parts.n_train]
    y = (parts.frames.shape[1] - data.image_size) // 2
    windows = training_windows(parts.frames[:, y:], parts.n_train, data.clip_len, data.image_size)
  else:
    windows, last = pooled(train).reshape(len(train), -1), None
  rows = _reference_rows(config, fvd, held, train, last)
  d_generated, d_held = nearest_distance(generated, windows), nearest_distance(held, windows)
  out = {
      "reference_fvd": rows,
      "clips_per_row": n,
      "diversity": {"generated": mean_pairwise(generated), "held_out_windows": mean_pairwise(held),
                    "training_windows": mean_pairwise(train)},
      "copying": {
          "generated_to_nearest_training_window_median": float(np.median(d_generated)),
          "held_out_to_nearest_training_window_median": float(np.median(d_held)),
          "ratio": float(np.median(d_generated) / max(np.median(d_held), 1e-9)),
          "generated_nearer_than_every_held_out_window": float(np.mean(d_generated < d_held.min())),
      },
      "distance": f"RMS of 0-255 pixels at 1/{POOL} resolution; training windows searched at every start, "
                  f"every {SHIFT} px of shift, both mirror images",
  }
  if one and gan.context_frames:
    out["extension"] = extension_report(config, centre, parts.n_train, gan, g_params, fvd)
  return out


def _reference_rows(config, fvd, held: np.ndarray, train: np.ndarray, last: np.ndarray | None) -> dict:
  """The model-independent rows, cached beside the real statistics (same dataset and recipe)."""
  key = {**fvd_lib.recipe(config), "rows": len(held), "real_split": "test", "version": 2}
  digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
  path = paths.resolve(config.fvd.cache_dir) / f"fvd_rows_{digest}.json"
  if path.is_file():
    return json.loads(path.read_text())["rows"]
  rng = np.random.default_rng(config.fvd.seed)

  def frozen(clips):
    return np.repeat(clips[:, :1], clips.shape[1], axis=1)

  def shuffled(clips):
    return np.stack([clip[rng.permutation(len(clip))] for clip in clips])

  rows = {
      "training_windows": fvd(train),
      "frozen_first_frame": fvd(frozen(held)),
      "shuffled_in_time": fvd(shuffled(held)),
      "training_windows_frozen": fvd(frozen(train)),
      "training_windows_shuffled": fvd(shuffled(train)),
      "noise": fvd(rng.integers(0, 256, held.shape, dtype=np.uint8)),
  }
  if last is not None:
    rows["last_window_repeated"] = fvd(np.repeat(last[None], len(held), axis=0))
  paths.write_text_atomically(path, json.dumps({"rows": rows, "recipe": key}, indent=2, default=str))
  return rows


def extension_report(config, frames: np.ndarray, n_train: int, gan: VideoGAN, g_params, fvd) -> dict:
  """Continues the training part of `frames` (the centre crops) by len(frames); FVD of the new windows and the seam."""
  clip_len = config.data.clip_len
  given = frames[:n_train]
  total = n_train + len(frames)
  context = given[None].astype(np.float32) / 127.5 - 1.0
  out = video_io.to_uint8(conditional.rollout(gan, g_params, context, total, jax.random.key(config.fvd.seed)))[0]
  out[: len(given)] = given
  new = out[len(given) :]
  starts = np.unique(np.linspace(0, len(new) - clip_len, min(config.fvd.num_generated // 2, len(new) - clip_len + 1))
                     .round().astype(int))
  windows = np.stack([new[s : s + clip_len] for s in starts])
  windows = np.concatenate([windows, windows[:, :, :, ::-1]])
  return {"fvd_of_extension_windows": fvd(windows), "windows": len(windows),
          "from": f"the training part's {len(given)} frames, continued by {len(frames)}",
          **conditional.seam_report(given, out, config.fps)}
