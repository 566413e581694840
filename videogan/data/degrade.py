"""(degraded, clean) training pairs for the enhancer, made on the fly in tf.data.

A clean window of frames `[T, H, W, C]` in [0, 1] is degraded in the order of
the classical model (Elad & Feuer 1997; Real-ESRGAN's first order):

  y = Q( JPEG_q( D_s( k_sigma * x ) + n ) )

  k_sigma * x   Gaussian blur of std `blur` pixels (on the clean grid)
  D_s           down-scaling by `scale`: area (pixel averaging, what binning and most resizers do),
                bilinear or bicubic, each of the last two with or without an anti-aliasing filter
  n             Gaussian noise of std `noise` (in [0, 1] pixel units) and/or
                Poisson (shot) noise with `peak` photons at white: Poisson(peak * x) / peak
  JPEG_q        per-frame JPEG at `quality` (1-100; 0 = none)
  Q             clipping to [0, 1] and rounding to 8 bits, like a decoded video

Every frame of a window shares the degradation's parameters (a camera's blur
and noise level do not change between neighbouring frames) but gets its own
noise. Parameters are drawn per patch from `config.degrade` by stateless
random ops seeded with (seed, example index), so the pairs are a pure function
of the index, like the clips.
"""

import ml_collections
import tensorflow as tf

RESIZE_METHODS = ("area", "bilinear", "bicubic")  # tf.image.resize's names.
MAX_BLUR_RADIUS = 10  # Gaussian taps: 21, enough for 3 sigma on each side up to:
MAX_BLUR_SIGMA = MAX_BLUR_RADIUS / 3


# Evaluation degradations by name: changes to `config.eval_degrade` (anti-aliased bicubic, nothing else).
EVAL_KINDS = {
    "bicubic": {"resize": "bicubic", "antialias": True},  # What SR papers and benchmarks use.
    "area": {"resize": "area", "antialias": False},  # Pixel averaging: binning, most resizers.
    "bilinear": {"resize": "bilinear", "antialias": True},
    "noise": {"noise_sigma": 0.1},  # Strong Gaussian noise (the denoiser's target).
    "jpeg": {"jpeg_quality": 75},
}


def _seed(seed, *data) -> tf.Tensor:
  """A stateless-op seed derived from `seed` (shape [2]) and integers `data`."""
  for d in data:
    seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(d, tf.int64))
  return seed


def gaussian_blur(frames: tf.Tensor, sigma: tf.Tensor, radius: int) -> tf.Tensor:
  """Separable Gaussian blur of `[T, H, W, C]` with std `sigma` px (0: identity); edges reflected."""
  taps = tf.range(-radius, radius + 1, dtype=tf.float32)
  weights = tf.exp(-0.5 * tf.square(taps / tf.maximum(sigma, 1e-6)))
  weights = tf.where(sigma > 0, weights, tf.cast(tf.equal(taps, 0), tf.float32))
  weights /= tf.reduce_sum(weights)
  channels = frames.shape[-1]
  x = tf.pad(frames, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
  rows = tf.tile(tf.reshape(weights, [-1, 1, 1, 1]), [1, 1, channels, 1])
  cols = tf.tile(tf.reshape(weights, [1, -1, 1, 1]), [1, 1, channels, 1])
  x = tf.nn.depthwise_conv2d(x, rows, [1, 1, 1, 1], "VALID")
  return tf.nn.depthwise_conv2d(x, cols, [1, 1, 1, 1], "VALID")


def degrade(frames: tf.Tensor, scale: int, params: dict[str, tf.Tensor], seed: tf.Tensor) -> tf.Tensor:
  """Clean `[T, H, W, C]` in [0, 1] -> degraded `[T, H/scale, W/scale, C]` in [0, 1] (8-bit levels).

  `params`: float "blur" (px), "noise" (std), "peak" (0: no Poisson noise), int "quality" (0: no JPEG),
  int "resize" (an index into RESIZE_METHODS), bool "antialias".
  """
  t, h, w, c = frames.shape
  x = gaussian_blur(frames, params["blur"], MAX_BLUR_RADIUS)
  if scale > 1:
    size = [h // scale, w // scale]
    branches = [lambda m=m, a=a: tf.image.resize(x, size, method=m, antialias=a)
                for m in RESIZE_METHODS for a in (False, True)]
    x = tf.switch_case(2 * tf.cast(params["resize"], tf.int32) + tf.cast(params["antialias"], tf.int32), branches)
  peak = params["peak"]
  shot = tf.random.stateless_poisson(tf.shape(x), _seed(seed, 1), tf.maximum(tf.clip_by_value(x, 0, 1) * peak, 1e-6), dtype=tf.float32)
  x = tf.where(peak > 0, shot / tf.maximum(peak, 1e-6), x)
  x = x + params["noise"] * tf.random.stateless_normal(tf.shape(x), _seed(seed, 2))
  x = tf.clip_by_value(x, 0.0, 1.0)

  def jpeg(x):
    frames_u8 = tf.cast(tf.round(x * 255.0), tf.uint8)
    out = tf.map_fn(lambda f: tf.image.adjust_jpeg_quality(f, params["quality"]), frames_u8,
                    fn_output_signature=tf.TensorSpec([None, None, c], tf.uint8))
    return tf.cast(out, tf.float32) / 255.0

  x = tf.cond(params["quality"] > 0, lambda: jpeg(x), lambda: x)
  x = tf.round(tf.clip_by_value(x, 0.0, 1.0) * 255.0) / 255.0
  return tf.ensure_shape(x, [t, h // scale, w // scale, c])


def sample_params(cfg: ml_collections.ConfigDict, seed: tf.Tensor) -> dict[str, tf.Tensor]:
  """One patch's degradation from `config.degrade`: each kind applied with its probability, strength uniform in its range."""
  u = tf.random.stateless_uniform([8], _seed(seed, 3))

  def pick(i, prob, bounds):
    lo, hi = bounds
    return tf.where(u[i] < prob, lo + (hi - lo) * u[i + 1], 0.0)

  quality = tf.cast(tf.round(pick(6, cfg.jpeg_prob, cfg.jpeg_quality)), tf.int32)
  # The down-scaling filter: one of cfg.resize, uniformly (its own draws, so the others stay as they were).
  v = tf.random.stateless_uniform([2], _seed(seed, 4))
  methods = tf.constant([RESIZE_METHODS.index(m) for m in cfg.resize], tf.int32)
  return {
      "resize": methods[tf.minimum(tf.cast(v[0] * len(cfg.resize), tf.int32), len(cfg.resize) - 1)],
      "antialias": v[1] < cfg.antialias_prob,
      "blur": pick(0, cfg.blur_prob, cfg.blur_sigma),
      "noise": pick(2, cfg.noise_prob, cfg.noise_sigma),
      "peak": pick(4, cfg.poisson_prob, cfg.poisson_peak),
      "quality": quality,
  }


def fixed_params(cfg: ml_collections.ConfigDict) -> dict[str, tf.Tensor]:
  """The evaluation degradation (`config.eval_degrade`): fixed strengths."""
  return {
      "resize": tf.constant(RESIZE_METHODS.index(cfg.resize)),
      "antialias": tf.constant(bool(cfg.antialias)),
      "blur": tf.constant(float(cfg.blur_sigma)),
      "noise": tf.constant(float(cfg.noise_sigma)),
      "peak": tf.constant(float(cfg.poisson_peak)),
      "quality": tf.constant(int(cfg.jpeg_quality)),
  }


def make_pair_fn(config: ml_collections.ConfigDict, seed: int):
  """`(index, clip) -> {"lr": [P, T, p, p, C], "hr": [P, p*s, p*s, C]}` in [-1, 1]: P patches of one clip.

  `clip` is the source's example: "video" uint8 `[T, S, S, C]`. Each patch is
  a random `p*s` square (same place in every frame), degraded with its own
  parameters; "hr" is its clean centre frame.
  """
  scale, p, num = config.model.scale, config.patch_size, config.patches_per_clip
  hr_size = p * scale
  base_seed = tf.constant([seed, 424_242], tf.int64)

  def fn(index, clip):
    video = tf.cast(clip["video"], tf.float32) / 255.0
    t, size = video.shape[0], video.shape[1]
    lrs, hrs = [], []
    for j in range(num):
      seed_j = _seed(base_seed, index, j)
      yx = tf.random.stateless_uniform([2], _seed(seed_j, 0), 0, size - hr_size + 1, dtype=tf.int32)
      patch = video[:, yx[0] : yx[0] + hr_size, yx[1] : yx[1] + hr_size]
      patch = tf.ensure_shape(patch, [t, hr_size, hr_size, video.shape[-1]])
      lrs.append(degrade(patch, scale, sample_params(config.degrade, seed_j), seed_j))
      hrs.append(patch[t // 2])
    return {"lr": tf.stack(lrs) * 2.0 - 1.0, "hr": tf.stack(hrs) * 2.0 - 1.0}

  return fn


def degrade_video(frames, scale: int, cfg: ml_collections.ConfigDict, seed: int):
  """The evaluation pairs' input: uint8 `[T, H, W, C]` -> float32 [-1, 1] `[T, H/s, W/s, C]`, deterministic.

  Frames are degraded in windows of 16 with the fixed `cfg` (`config.eval_degrade`)
  and noise seeded by (seed, frame index).
  """
  params = fixed_params(cfg)
  out = []
  frames = tf.convert_to_tensor(frames)
  for start in range(0, int(frames.shape[0]), 16):
    chunk = tf.cast(frames[start : start + 16], tf.float32) / 255.0
    out.append(degrade(chunk, scale, params, _seed(tf.constant([seed, 77], tf.int64), start)))
  return (tf.concat(out, 0) * 2.0 - 1.0).numpy()

