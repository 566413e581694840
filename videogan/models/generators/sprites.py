"""The `sprites` family: a clip as a layered scene (as in layered GANs such as LR-GAN, Yang et al., 2017).

z_c is decoded once per clip, by 2-D convs, into a static background bg and
`num_sprites` sprites at half the frame size, each with colour c_k and opacity
a_k. Each sprite starts where the content puts it and moves each frame by a
velocity read from a vector GRU's state h_t = GRU(h_{t-1}, e_t); a frame is the
sprites moved there and composited over the background, back to front (the
"over" operator on opacity-premultiplied colour):

  u_{k,t} = (V z_c + b)_k + sum_{s <= t} (W h_s + c)_k     path, in units of (frame - sprite) px
  p_{k,t} = fold(u_{k,t}) = 1 - |(u_{k,t} mod 2) - 1|      bounced off the edges into [0, 1]
  f_t = bg;  f_t = move(a_k c_k, p_{k,t}) + (1 - move(a_k, p_{k,t})) f_t   for k = 1..K

With `sprite_blend="max"` a sprite has no opacity: its colour, as an intensity
in [0, 1], is moved into a black frame and each pixel takes the brightest layer,
which is how Moving MNIST combines its digits (a dark sprite pixel hides nothing):

  f_t = 2 max(bg', move(c'_1, p_{1,t}), ..., move(c'_K, p_{K,t})) - 1,   x' = (x + 1) / 2

With `sprite_background=False` there is no background layer (bg = -1, black).

`move` is a bilinear (sub-pixel) translation, two small matmuls, so positions
get gradients; with `sprite_positions="pixel"` it draws at the rounded
position and keeps the bilinear gradient. Objects keep their shape by
construction and only move, which suits a few rigid objects on a plain
background (Moving MNIST); the decoder runs once per clip, not once per frame.
"""

import functools
from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from videogan.models import layers
from videogan.models.generators.common import GeneratorBase

SPRITE_BLENDS = ("over", "max")
SPRITE_DECODERS = ("shared", "joint")
SPRITE_POSITIONS = ("subpixel", "pixel")


def default_config() -> ml_collections.ConfigDict:
  """The family's options, with their defaults: `config.model.generator` when `name="sprites"`."""
  return ml_collections.ConfigDict({
      "name": "sprites",
      "widths": (128, 64, 32, 16, 8),  # Channels at 4, 8, 16, 32, 64 px; the sprites are half the frame.
      "content_dim": 64,  # z_c: the sprites, the background and the starting places.
      "motion_noise_dim": 16,  # e_t, the GRU's input each frame.
      "motion_dim": 16,  # The GRU's state h_t, read as the sprites' velocities.
      "output_upsample": 1,  # Sub-pixel factor of the last conv (1: none).
      "num_sprites": 2,  # Layers moved over the background.
      "sprite_blend": "over",  # "over" (opacity, back to front) or "max" (each pixel the brightest layer's).
      "sprite_decoder": "joint",  # "joint" (one map gives all sprites) or "shared" (a map per layer, same blocks).
      "sprite_positions": "subpixel",  # Or "pixel": drawn at whole pixels (straight-through gradient).
      "sprite_background": True,  # A learned background layer under the sprites, or black.
      "block_depth": 1,  # Convs per decoder resolution: the upsampling one, then stride-1 3x3s.
      "opacity_offset": 0.0,  # Added to the opacity logits ("over"); < 0: the sprites start see-through.
  })


class SpriteGenerator(GeneratorBase):
  """Latents -> clip of `num_sprites` layers moved by a vector GRU over a background.

  Attributes (see `GeneratorBase` for the rest):
    motion_dim: GRU state size.
    num_sprites: layers over the background.
    sprite_blend: "over" (each has an opacity; back to front) or "max" (each
      pixel the brightest layer's; a dark sprite pixel hides nothing).
    sprite_decoder: "shared" (the content gives one 4 px map per layer and
      the same blocks decode each: the layers are alike by construction) or
      "joint" (one map, whose half-size features give all sprites at once; the
      background decodes on to full size from the same map).
    sprite_positions: "subpixel" (each sprite drawn at its fractional place,
      shared between neighbouring pixels) or "pixel" (drawn at the nearest
      whole pixel; the place still gets the sub-pixel drawing's gradient, see
      `translate`).
    sprite_background: decode a background layer (True) or draw on black (False).
    block_depth: convs per decoder resolution: the upsampling 3x3 conv, then
      `block_depth - 1` stride-1 3x3 convs of the same width, each with pixel
      norm and ReLU.
    opacity_offset: added to the opacity logits of `sprite_blend="over"`; below
      zero the sprites start nearly see-through and grow opaque where that pays.
  """

  motion_dim: int
  num_sprites: int
  sprite_blend: Literal["over", "max"]
  sprite_decoder: Literal["shared", "joint"]
  sprite_positions: Literal["subpixel", "pixel"]
  sprite_background: bool
  block_depth: int
  opacity_offset: float

  @nn.compact
  def __call__(self, content: jax.Array, motion_noise: jax.Array, context: jax.Array | None = None,
               label: jax.Array | None = None, background: jax.Array | None = None) -> jax.Array:
    """Clip `[B, k + T, H, W, C]` for context `[B, k, H, W, C]` (k = 0: none) and T = motion steps.

    `background`: frames `[B, T, H, W, C]` in [-1, 1] to draw the sprites over, drawn by another
    generator (the `style` family's `sprite_layers`), with `sprite_background=False`.
    """
    content, skips, carry = self.condition(content, context, label, self.motion_dim)
    motion = nn.RNN(nn.GRUCell(self.motion_dim), name="motion_rnn")(motion_noise, initial_carry=carry)
    motion = motion.astype(content.dtype)  # The cell's carry is float32 whatever the compute dtype.
    return self.with_context(self._sprite_frames(content, motion, skips, background), context)

  def _sprite_frames(self, content: jax.Array, motion: jax.Array, skips: list,
                     given_background: jax.Array | None = None) -> jax.Array:
    """Frames `[B, T, H, W, C]`: sprites decoded from `content`, placed by `motion` [B, T, D], over a background."""
    b, t, _ = motion.shape
    k, c, r = self.num_sprites, self.out_channels, self.output_upsample
    m = c + 1 if self.sprite_blend == "over" else c  # Channels per sprite: colour (and opacity for "over").
    shared = self.sprite_decoder == "shared"
    # shared: one 4 px map per layer (background, if any, first), all decoded by the same blocks (layers on the
    # T axis).
    bg = int(self.sprite_background)  # Background layers: 1 or 0.
    x = self.content_map(content, skips, maps=k + bg if shared else 1)
    for i in range(len(self.widths) - 1):  # 2-D blocks on the clip's map(s): one decode per clip.
      if i == len(self.widths) - 2:  # Half the frame size: the sprites (colour, and opacity for "over").
        # shared: each sprite layer gives its own sprite; joint: the one map gives all K.
        source, per_map = (x[:, bg:], 1) if shared else (x, k)
        sprites = layers.depth_to_space(
            layers.SpatialConv(per_map * m * r * r, impl=self.impl, name="to_sprites")(source), r)
        sprites = jnp.moveaxis(sprites, 1, 3).reshape(b, *sprites.shape[2:4], k, m)  # [B, S, S, K, m]
        if not bg:
          break
        x = x[:, :1]  # The background decodes on to full size.
      x = layers.SpatialConv(self.widths[i + 1], upsample=2, small_grid_upsample=self.small_grid_upsample,
                             impl=self.impl, name=f"block{i}")(x)
      x = self.add_skip(nn.relu(layers.pixel_norm(x)), skips[i + 1], f"skip{i + 1}")
      for j in range(1, self.block_depth):  # More depth at the same resolution.
        x = nn.relu(layers.pixel_norm(layers.SpatialConv(self.widths[i + 1], impl=self.impl, name=f"block{i}_{j}")(x)))
    side, size = 4 * 2 ** (len(self.widths) - 1) * r, sprites.shape[1]
    if bg:
      background = jnp.tanh(layers.depth_to_space(layers.SpatialConv(c * r * r, impl=self.impl, name="to_pixels")(x), r))
    elif given_background is not None:
      if given_background.shape[2:] != (side, side, c):
        raise ValueError(f"the sprites are drawn on {side}x{side}x{c} frames; got a background {given_background.shape}.")
      background = given_background
    else:  # Black.
      background = jnp.full((b, 1, side, side, c), -1, sprites.dtype)
    # Paths u_{k,t} (module docstring). Initial scales: starts spread over the frame, steps of ~0.1
    # of the free range per frame.
    start = nn.Dense(2 * k, kernel_init=nn.initializers.variance_scaling(4.0, "fan_in", "normal"),
                     name="to_start")(content)
    velocity = nn.Dense(2 * k, kernel_init=nn.initializers.variance_scaling(0.1, "fan_in", "normal"),
                        name="to_velocity")(motion)
    corner = fold(start[:, None] + jnp.cumsum(velocity, axis=1)) * (side - size)
    corner = corner.reshape(b, t, k, 2)  # [B, T, K, (top, left)]
    snap = self.sprite_positions == "pixel"
    if self.sprite_blend == "max":  # Each pixel the brightest layer's, as Moving MNIST combines its digits.
      ink = translate((jnp.tanh(sprites) + 1) / 2, corner[..., 0], corner[..., 1], side,
                      whole_pixels=snap)  # [B, T, K, H, W, C], 0 off-sprite.
      # Pairwise maxima, not ink.max(axis=2), whose gradient counts ties (every off-sprite pixel is one) and
      # divides by the count: two slow XLA:CPU fusions, and the step 3-5% slower (docs/performance.md). At a tie
      # the gradient is split pair by pair instead of evenly, another valid subgradient.
      brightest = functools.reduce(jnp.maximum, [ink[:, :, i] for i in range(k)], (background + 1) / 2)
      return 2 * brightest - 1  # background [B, 1, H, W, C]
    alpha = jax.nn.sigmoid(sprites[..., c:] + self.opacity_offset)  # [B, S, S, K, 1]
    premultiplied = jnp.concatenate([alpha * jnp.tanh(sprites[..., :c]), alpha], -1)  # a_k c_k, a_k
    moved = translate(premultiplied, corner[..., 0], corner[..., 1], side, whole_pixels=snap)  # [B, T, K, H, W, C + 1]
    frames = jnp.broadcast_to(background, (b, t, *background.shape[2:]))
    for i in range(k):  # Back to front: f = a_k c_k + (1 - a_k) f.
      frames = moved[:, :, i, ..., :c] + (1 - moved[:, :, i, ..., c:]) * frames
    return frames


def fold(u: jax.Array) -> jax.Array:
  """The triangle wave 1 - |(u mod 2) - 1|: a path u on the line, bounced elastically inside [0, 1]."""
  return 1 - jnp.abs(jnp.mod(u, 2) - 1)


def translate(sprites: jax.Array, top: jax.Array, left: jax.Array, side: int, whole_pixels: bool = False) -> jax.Array:
  """Sprites `[B, S, S, K, C]` moved into a zero `side` x `side` frame, corner (top, left) `[B, T, K]`.

  Bilinear: pixel (i, j) of sprite k in frame t lands at (top + i, left + j),
  shared between the four nearest pixels. Along each axis that is a [side, S]
  matrix of tent weights max(0, 1 - |y - (top + i)|), so a move is two small
  matmuls, differentiable in the sprite and in the (fractional) corner.

  `whole_pixels`: the forward pass rounds the corner (each sprite pixel lands
  on one frame pixel, unblurred), and the backward pass is the bilinear one's,
  a straight-through estimator (Bengio et al., 2013): w + stop_gradient(w_round - w).
  Returns `[B, T, K, side, side, C]`.
  """
  rows = jnp.arange(side, dtype=sprites.dtype)[:, None] - jnp.arange(sprites.shape[1], dtype=sprites.dtype)

  def tent(corner):  # [B, T, K] -> [B, T, K, side, S]
    weights = jax.nn.relu(1 - jnp.abs(rows - corner[..., None, None]))
    if not whole_pixels:
      return weights
    return weights + jax.lax.stop_gradient(jax.nn.relu(1 - jnp.abs(rows - jnp.round(corner)[..., None, None])) - weights)

  along_y, along_x = tent(top), tent(left)
  return jnp.einsum("btkyi,bijkc,btkxj->btkyxc", along_y, sprites, along_x)
