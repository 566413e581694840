"""Image and video quality metrics for the enhancer: PSNR, SSIM, flicker.

Conventions (the super-resolution literature's, stated so numbers compare):
* pixels in [0, 1] (data range 1), every pixel counted (no border shaved);
* "Y": the luma of ITU-R BT.601 as MATLAB's `rgb2ycbcr`, on [0, 1] RGB:
  Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255;
* "RGB": PSNR over all three channels' pixels; SSIM the mean of the
  per-channel SSIMs;
* SSIM as Wang et al. (2004): Gaussian window sigma = 1.5 (11 taps), K1 = 0.01,
  K2 = 0.03, population statistics, averaged over the positions where the
  window fits inside the image (skimage's `structural_similarity(...,
  gaussian_weights=True, use_sample_covariance=False, data_range=1)`).
Each function takes `[..., H, W, C]` arrays and returns one value per leading
index (a frame), so a clip's score is the mean over its frames.
"""

import jax
import jax.numpy as jnp
import numpy as np

_Y_WEIGHTS = np.array([65.481, 128.553, 24.966], np.float32) / 255.0


def rgb_to_y(rgb: jax.Array) -> jax.Array:
  """[..., 3] RGB in [0, 1] -> [..., 1] BT.601 luma in [16/255, 235/255]."""
  return (jnp.asarray(rgb) @ _Y_WEIGHTS + 16.0 / 255.0)[..., None]


def psnr(x: jax.Array, y: jax.Array) -> jax.Array:
  """10 log10(1 / MSE) per frame of `[..., H, W, C]` in [0, 1]."""
  mse = jnp.mean(jnp.square(jnp.asarray(x, jnp.float32) - jnp.asarray(y, jnp.float32)), axis=(-3, -2, -1))
  return 10.0 * jnp.log10(1.0 / mse)


def _gaussian_window(sigma: float = 1.5, radius: int = 5) -> np.ndarray:
  taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
  return (taps / taps.sum()).astype(np.float32)


def _filter_valid(x: jax.Array, taps: np.ndarray) -> jax.Array:
  """Separable 'valid' filtering of [N, H, W] (rows, then columns)."""
  k = len(taps)
  h, w = x.shape[-2:]
  x = sum(taps[i] * x[..., i : h - k + 1 + i, :] for i in range(k))
  return sum(taps[i] * x[..., :, i : w - k + 1 + i] for i in range(k))


def ssim(x: jax.Array, y: jax.Array) -> jax.Array:
  """Mean SSIM per frame of `[..., H, W, C]` in [0, 1] (mean over channels)."""
  x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
  lead, (h, w, c) = x.shape[:-3], x.shape[-3:]
  if min(h, w) < 11:
    raise ValueError(f"SSIM needs frames of at least 11 x 11 pixels (its window); got {h} x {w}.")
  # Channels as separate images: [..., C, H, W].
  x = jnp.moveaxis(x, -1, -3).reshape(-1, h, w)
  y = jnp.moveaxis(y, -1, -3).reshape(-1, h, w)
  g = _gaussian_window()
  mu_x, mu_y = _filter_valid(x, g), _filter_valid(y, g)
  var_x = _filter_valid(x * x, g) - mu_x**2
  var_y = _filter_valid(y * y, g) - mu_y**2
  cov = _filter_valid(x * y, g) - mu_x * mu_y
  c1, c2 = 0.01**2, 0.03**2
  s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
  return s.mean(axis=(-2, -1)).reshape(*lead, c).mean(axis=-1)


def flicker(frames: jax.Array, clean: jax.Array) -> jax.Array:
  """Temporal flicker of `[T, H, W, C]`: mean |f_{t+1} - f_t| minus the same for the clean frames.

  0 when the output changes from frame to frame exactly as much as the truth;
  positive when it shimmers more.
  """
  change = lambda v: jnp.mean(jnp.abs(jnp.diff(jnp.asarray(v, jnp.float32), axis=0)))  # noqa: E731
  return change(frames) - change(clean)


@jax.jit  # One fused computation: op by op, SSIM's shifted sums over large frames ran ~3.5x slower.
def frame_scores(output: jax.Array, target: jax.Array) -> dict[str, jax.Array]:
  """PSNR and SSIM on RGB and on Y, per frame, of `[T, H, W, 3]` in [0, 1]."""
  output = jnp.clip(jnp.asarray(output, jnp.float32), 0.0, 1.0)
  target = jnp.asarray(target, jnp.float32)
  out_y, target_y = rgb_to_y(output), rgb_to_y(target)
  return {
      "psnr_rgb": psnr(output, target), "ssim_rgb": ssim(output, target),
      "psnr_y": psnr(out_y, target_y), "ssim_y": ssim(out_y, target_y),
  }
