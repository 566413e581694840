"""Differentiable augmentation of the clips D sees (DiffAugment, Zhao et al., 2020).

With few real clips (one video) D learns them by heart and G collapses. DiffAugment
shows D only transformed clips, real and generated alike, T(x) and T(G(z)), with
T differentiable so L_G's gradient reaches G through it:

  L_D = -[log D(T(x)) + log(1 - D(T(G(z))))],   L_G = -log D(T(G(z)))

As DIGAN and StyleGAN-V do for video, one transform per clip, the same for all of
its frames, so motion is kept. The policy is a comma-separated subset of
`POLICIES`, applied in that order (the paper's "color,translation,cutout"), on
clips in [-1, 1]:

  color:       x + (b - 1/2); then (x - mean_c x) 2s + mean_c x; then (x - mean x)(c + 1/2) + mean x,
               b, s, c ~ U[0, 1) per clip; mean_c over channels, mean over the whole clip
  translation: out[t, i, j] = x[t, i + dy, j + dx], 0 outside; dy, dx uniform integers
               in [-H/8, H/8] (resp. W/8)
  cutout:      0 in an (H/2 x W/2) rectangle centred at a uniform (cy, cx), same frames
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp

POLICIES = ("color", "translation", "cutout")
TRANSLATION_RATIO = 1 / 8  # The paper's: shifts of up to an eighth of the side.
CUTOUT_RATIO = 1 / 2  # The paper's: a rectangle of half the side.

Params = dict[str, jax.Array]


def parse(policy: str) -> tuple[str, ...]:
  """'color,cutout' -> ('color', 'cutout'); '' -> ()."""
  return tuple(p.strip() for p in policy.split(",") if p.strip())


def sample_params(rng: jax.Array, batch: int, height: int, width: int, policy: Sequence[str]) -> Params:
  """Draws one transform per clip for each part of `policy`."""
  params = {}
  color_rng, shift_rng, cut_rng = jax.random.split(rng, 3)
  if "color" in policy:
    b, s, c = jax.random.uniform(color_rng, (3, batch))
    params.update(brightness=b, saturation=s, contrast=c)
  if "translation" in policy:
    max_shift = jnp.array([round(height * TRANSLATION_RATIO), round(width * TRANSLATION_RATIO)])
    params["shift"] = jax.random.randint(shift_rng, (batch, 2), -max_shift, max_shift + 1)
  if "cutout" in policy:
    params["cutout_centre"] = jax.random.randint(cut_rng, (batch, 2), 0, jnp.array([height, width]))
  return params


def apply(x: jax.Array, params: Params) -> jax.Array:
  """Applies the transforms in `params` to clips x [B, T, H, W, C]."""
  if "brightness" in params:
    b, s, c = (params[k][:, None, None, None, None] for k in ("brightness", "saturation", "contrast"))
    x = x + (b - 0.5)
    mean_c = x.mean(axis=-1, keepdims=True)
    x = (x - mean_c) * (2 * s) + mean_c
    mean = x.mean(axis=(1, 2, 3, 4), keepdims=True)
    x = (x - mean) * (c + 0.5) + mean
  _, _, h, w, _ = x.shape
  if "shift" in params:
    ph, pw = round(h * TRANSLATION_RATIO), round(w * TRANSLATION_RATIO)
    padded = jnp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw), (0, 0)))

    def shift(clip, dy_dx):
      return jax.lax.dynamic_slice(clip, (0, ph + dy_dx[0], pw + dy_dx[1], 0), clip.shape[:1] + (h, w) + clip.shape[3:])

    x = jax.vmap(shift)(padded, params["shift"])
  if "cutout_centre" in params:
    sh, sw = round(h * CUTOUT_RATIO), round(w * CUTOUT_RATIO)
    cy, cx = params["cutout_centre"][:, 0, None], params["cutout_centre"][:, 1, None]
    rows = jnp.arange(h)[None] - (cy - sh // 2)  # [B, H]: inside where 0 <= rows < sh
    cols = jnp.arange(w)[None] - (cx - sw // 2)
    inside = ((rows >= 0) & (rows < sh))[:, :, None] & ((cols >= 0) & (cols < sw))[:, None, :]
    x = jnp.where(inside[:, None, :, :, None], 0.0, x).astype(x.dtype)
  return x


def augment(rng: jax.Array, x: jax.Array, policy: Sequence[str]) -> jax.Array:
  """T(x): clips x [B, T, H, W, C] each through its own random transform; x itself if `policy` is empty."""
  if not policy:
    return x
  b, _, h, w, _ = x.shape
  return apply(x, sample_params(rng, b, h, w, policy))
