"""Sampling clips from a (trained) generator and writing them to disk (or gs://)."""

import jax
import ml_collections
import numpy as np
from etils import epath

from videogan import errors, paths, video_io
from videogan.gan import state as state_lib
from videogan.models.gan import VideoGAN


def make_sample_fn(gan: VideoGAN, out_sharding: jax.sharding.Sharding | None = None):
  """Jitted `(g_params, latents, conditioning={}) -> clips` in [-1, 1], [N, T, H, W, C].

  `conditioning` holds `context` [N, k, H, W, C] and/or `label` [N] for
  conditional models. Pass a replicated `out_sharding` when the params are
  sharded over several processes, so every process can read the clips.
  """
  def sample(g_params, latents, conditioning=None):
    return gan.generator.apply({"params": g_params}, **latents, **(conditioning or {}))

  return jax.jit(sample, out_shardings=out_sharding)


def fixed_conditioning(gan: VideoGAN, config: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
  """Conditioning for the training-time samples: the first real evaluation clips' context and labels.

  Class-conditional models without context cycle through the classes; models
  that also draw whole clips (`model.context_dropout`) are shown those.
  """
  use_context = gan.context_frames and not gan.draws_whole_clips
  if not (use_context or gan.num_classes):
    return {}
  from videogan.data import pipeline  # Data code only where it is needed.

  num = config.sample.num_clips
  split = "test"
  try:
    pipeline.check_source(config, split)
  except errors.ConfigError:  # E.g. a folder with no test videos: show training clips instead.
    split = "train"
  batch = next(pipeline.make_dataset(config, split=split, seed=config.seed, global_batch=num, num_steps=1,
                                     training=False).as_numpy_iterator())
  cond = gan.conditioning(batch if use_context else {**batch, "label": np.arange(num) % max(gan.num_classes, 1)})
  return {k: np.asarray(v) for k, v in cond.items() if use_context or k != "context"}


def sample_clips(gan: VideoGAN, g_params, rng: jax.Array, num: int, batch_size: int = 16,
                 conditioning: dict[str, np.ndarray] | None = None) -> np.ndarray:
  """`num` clips from fresh latents, generated `batch_size` at a time (with `conditioning[i]` for clip i)."""
  sample = make_sample_fn(gan)
  conditioning = conditioning or {}
  clips = []
  for i, start in enumerate(range(0, num, batch_size)):
    n = min(batch_size, num - start)
    cond = {k: v[start : start + n] for k, v in conditioning.items()}
    latents = gan.latents(jax.random.fold_in(rng, i), n, with_context="context" in cond)
    clips.append(video_io.to_uint8(sample(g_params, latents, cond)))
  return np.concatenate(clips)


def filmstrip(clips: np.ndarray, max_clips: int = 8, every: int = 2, pad: int = 2) -> np.ndarray:
  """One PNG-able image: a row per clip, every `every`-th frame left to right."""
  frames = clips[:max_clips, ::every]  # [N, T', H, W, C]
  n, t, h, w, c = frames.shape
  return video_io.grid(frames.reshape(n * t, 1, h, w, c), columns=t, pad=pad)[0]


def write_grid(prefix: paths.PathLike, clips: np.ndarray, fps: float) -> list[epath.Path]:
  """Writes `prefix`.gif/.mp4 (all clips tiled) and `prefix`.png (a filmstrip)."""
  prefix = paths.resolve(prefix)
  tiled = video_io.grid(clips)
  return [
      video_io.write_video(prefix.with_suffix(".gif"), tiled, fps),
      video_io.write_video(prefix.with_suffix(".mp4"), tiled, fps),
      video_io.write_image(prefix.with_suffix(".png"), filmstrip(clips)),
  ]


def write_samples(out_dir: paths.PathLike, clips: np.ndarray, fps: float) -> list[epath.Path]:
  """Writes each clip as mp4 and gif, a grid, and all clips as `samples.npz`.

  `samples.npz` holds one uint8 array `videos` [N, T, H, W, C] (no pickle) and
  `fps`.
  """
  out_dir = paths.resolve(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  written = []
  for i, clip in enumerate(clips):
    for suffix in video_io.PREVIEW_SUFFIXES:
      written.append(video_io.write_video(out_dir / f"clip_{i:04d}{suffix}", clip, fps))
  written += write_grid(out_dir / "grid", clips, fps)
  with paths.local_staging(out_dir / "samples.npz") as tmp:
    np.savez(tmp, videos=clips, fps=np.float32(fps))
  return written + [out_dir / "samples.npz"]


def sample_from_checkpoint(config: ml_collections.ConfigDict, workdir: paths.PathLike,
                           out_dir: paths.PathLike | None = None, step: int | None = None, label: int | None = None,
                           postprocess=None) -> list[epath.Path]:
  """Loads the EMA generator of the latest (or given) checkpoint and writes samples.

  `postprocess` maps the uint8 clips before they are written (e.g. the enhancer).

  Class-conditional models sample class `label` (default: cycle through the
  classes); models with context frames continue the first evaluation clips,
  unless they also draw whole clips (`model.context_dropout`).
  """
  gan = VideoGAN.from_config(config)
  if label is not None and not 0 <= label < gan.num_classes:
    raise errors.ConfigError(
        f"--label={label}: expected a class in [0, {gan.num_classes})" if gan.num_classes else
        f"--label={label}: this model is unconditional (model.num_classes=0).")
  cond = fixed_conditioning(gan, config)
  if label is not None:
    cond["label"] = np.full((config.sample.num_clips,), label, np.int32)
  state = state_lib.restore_from_workdir(config, workdir, gan, step)
  rng = jax.random.fold_in(jax.random.key(config.seed), int(state.step))
  clips = sample_clips(gan, state.ema_g_params, rng, config.sample.num_clips, conditioning=cond)
  if postprocess is not None:
    clips = postprocess(clips)
  out_dir = paths.resolve(workdir) / "sample_output" if out_dir is None else out_dir
  return write_samples(out_dir, clips, config.fps)
