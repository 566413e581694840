"""MoCoGAN-style video generator (Tulyakov et al., 2018) with (2+1)D decoder.

A clip is decoded from one *content* latent shared by all frames and a
per-frame *motion* latent produced by a GRU driven by fresh noise each frame:

  z_c ~ N(0, I)            [batch, content_dim]
  e_t ~ N(0, I)            [batch, time, motion_noise_dim]
  h_t = GRU(h_{t-1}, e_t)  [batch, time, motion_dim]
  frame_t = decode([z_c, h_t])  with (2+1)D convs so frames share information.

With `motion="conv_gru"` the recurrence runs on feature maps instead (as in
DVD-GAN's generator, Clark et al., 2019): z_c is decoded once to an 8 px map
h_0, a convolutional GRU driven by e_t updates it frame by frame, and each h_t
is decoded from 8 px up. Its 3x3 recurrent convs can move features across the
map from one frame to the next.

With `motion="sprites"` the clip is a layered scene (as in layered GANs such
as LR-GAN, Yang et al., 2017): z_c is decoded once per clip, by 2-D convs,
into a static background bg and `num_sprites` sprites at half the frame size,
each with colour c_k and opacity a_k. Each sprite starts where the content puts
it and moves each frame by a velocity read from the vector GRU's state; a frame
is the sprites moved there and composited over the background, back to front
(the "over" operator on opacity-premultiplied colour):

  u_{k,t} = (V z_c + b)_k + sum_{s <= t} (W h_s + c)_k     path, in units of (frame - sprite) px
  p_{k,t} = fold(u_{k,t}) = 1 - |(u_{k,t} mod 2) - 1|      bounced off the edges into [0, 1]
  f_t = bg;  f_t = move(a_k c_k, p_{k,t}) + (1 - move(a_k, p_{k,t})) f_t   for k = 1..K

With `sprite_blend="max"` a sprite has no opacity: its colour, as an intensity
in [0, 1], is moved into a black frame and each pixel takes the brightest layer,
which is how Moving MNIST combines its digits (a dark sprite pixel hides nothing):

  f_t = 2 max(bg', move(c'_1, p_{1,t}), ..., move(c'_K, p_{K,t})) - 1,   x' = (x + 1) / 2

With `sprite_background=False` there is no background layer (bg = -1, black):
for data whose background is black, as Moving MNIST's, a learned one only adds
grey patches that no real frame has, and its decode to full size was a fifth
of the default's train step.

`move` is a bilinear (sub-pixel) translation, two small matmuls, so positions
get gradients; with `sprite_positions="pixel"` it draws at the rounded
position, as Moving MNIST places its digits, and keeps the bilinear gradient.
Objects keep their shape by construction and only move, which suits a few
rigid objects on a plain background (Moving MNIST, whose digits bounce the
same way); the decoder runs once per clip, not once per frame.

Conditioning (both optional):

* context frames (`context_frames = k`, image-to-video for k = 1, prediction
  for k > 1): a 2-D encoder reads the k given frames stacked on the channel
  axis and returns a feature map at every decoder resolution. The 4 px map,
  pooled, starts the vector GRU (h_0) and joins z_c; every map is added to the
  decoder's features at its resolution for all generated frames (a U-Net-like
  skip, so G can carry the given appearance forward). Only the frames after the
  context are generated; the output is [context, generated] with the context
  passed through unchanged.
* class labels (`num_classes > 0`): a learned class embedding joins z_c.
"""

import functools
from collections.abc import Sequence
from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp

from videogan.models import layers

Motion = Literal["gru", "conv_gru", "sprites"]
MOTIONS = ("gru", "conv_gru", "sprites")
SpriteBlend = Literal["over", "max"]
SPRITE_BLENDS = ("over", "max")
SpriteDecoder = Literal["shared", "joint"]
SPRITE_DECODERS = ("shared", "joint")
SpritePositions = Literal["subpixel", "pixel"]
SPRITE_POSITIONS = ("subpixel", "pixel")


def sample_latents(rng: jax.Array, batch: int, clip_len: int, content_dim: int, motion_noise_dim: int) -> dict[str, jax.Array]:
  """Gaussian latents `{"content": [B, content_dim], "motion_noise": [B, T, noise_dim]}`."""
  content_rng, motion_rng = jax.random.split(rng)
  return {
      "content": jax.random.normal(content_rng, (batch, content_dim)),
      "motion_noise": jax.random.normal(motion_rng, (batch, clip_len, motion_noise_dim)),
  }


class Generator(nn.Module):
  """Latents -> clip `[batch, time, height, width, channels]` in [-1, 1].

  Attributes:
    widths: channels at resolutions 4, 8, 16, ...
    output_upsample: r > 1 makes the last conv emit r * r * out_channels
      channels that are rearranged into r x r pixel blocks (sub-pixel
      convolution, Shi et al., 2016), so the costliest resolution is never
      convolved. The output side is 4 * 2 ** (len(widths) - 1) * r.
    out_channels: 1 for grayscale, 3 for RGB.
    motion_dim: GRU state size.
    temporal_kernel: taps of the temporal convs.
    context_frames: number of given frames the clip continues (0: none).
    num_classes: > 0 for a class-conditional generator.
    impl: video conv implementation, see `layers`.
    small_grid_upsample: upsampling convs on the small grid (`layers.SpatialConv`).
    motion: "gru" (a vector GRU of `motion_dim` units, MoCoGAN), "conv_gru"
      (a ConvGRU on 8 px maps of widths[1] channels; `motion_dim` is unused)
      or "sprites" (the vector GRU moves `num_sprites` layers over a background;
      `temporal_kernel` is unused).
    num_sprites: layers over the background with motion "sprites".
    sprite_blend: how sprites combine with motion "sprites": "over" (each
      has an opacity; back to front) or "max" (each pixel the brightest layer's,
      as Moving MNIST combines its digits; a dark sprite pixel hides nothing).
    sprite_decoder: with motion "sprites", "shared" (the content gives one 4 px
      map per layer and the same blocks decode each: the layers are alike by
      construction) or "joint" (one map, whose 32 px features give all sprites
      at once; the background decodes on to full size from the same map).
    sprite_positions: with motion "sprites", "subpixel" (each sprite drawn
      at its fractional place, shared between neighbouring pixels) or "pixel"
      (drawn at the nearest whole pixel, as Moving MNIST draws its digits; the
      place still gets the sub-pixel drawing's gradient, see `translate`).
    sprite_background: with motion "sprites", decode a background layer
      (True) or draw the sprites on black (False).
    block_depth: with motion "sprites", convs per decoder resolution: the
      upsampling 3x3 conv, then `block_depth - 1` stride-1 3x3 convs of the
      same width, each with pixel norm and ReLU.
  """

  widths: Sequence[int] = (256, 128, 64, 32, 16)
  out_channels: int = 1
  output_upsample: int = 1
  motion_dim: int = 16
  temporal_kernel: int = 3
  context_frames: int = 0
  num_classes: int = 0
  impl: layers.Impl = "fold"
  small_grid_upsample: bool = True
  motion: Motion = "gru"
  num_sprites: int = 2
  sprite_blend: SpriteBlend = "over"
  sprite_decoder: SpriteDecoder = "joint"
  sprite_positions: SpritePositions = "subpixel"
  sprite_background: bool = True
  block_depth: int = 1

  def _encode_context(self, context: jax.Array) -> list[jax.Array]:
    """[B, k, H, W, C] -> feature maps at 4, 8, ... px (the decoder's resolutions)."""
    b, k, h, w, c = context.shape
    x = context.transpose(0, 2, 3, 1, 4).reshape(b, 1, h, w, k * c)  # Frames stacked on channels.
    if self.output_upsample > 1:
      x = layers.avg_pool_spatial(x, self.output_upsample)
    features = []
    for i in reversed(range(len(self.widths))):  # From the finest resolution down to 4 px.
      stride = 1 if i == len(self.widths) - 1 else 2
      x = nn.leaky_relu(layers.SpatialConv(self.widths[i], stride=stride, impl=self.impl, name=f"context{i}")(x), 0.2)
      features.append(x)
    return features[::-1]

  @nn.compact
  def __call__(self, content: jax.Array, motion_noise: jax.Array, context: jax.Array | None = None,
               label: jax.Array | None = None) -> jax.Array:
    """Clip `[B, k + T, H, W, C]` for context `[B, k, H, W, C]` (k = 0: none) and T = motion steps."""
    b, t, _ = motion_noise.shape
    skips = [None] * len(self.widths)
    carry = None
    if self.context_frames:
      if context is None or context.shape[1] != self.context_frames:
        raise ValueError(f"this generator continues {self.context_frames} context frame(s); got context "
                         f"{None if context is None else context.shape}.")
      skips = self._encode_context(context)
      pooled = skips[0].mean(axis=(1, 2, 3))  # [B, widths[0]]
      if self.motion != "conv_gru":  # The vector GRU (gru, sprites) starts from the context.
        carry = jnp.tanh(nn.Dense(self.motion_dim, name="context_to_motion")(pooled))
      content = jnp.concatenate([content, nn.Dense(content.shape[-1], name="context_to_content")(pooled)], -1)
    if self.num_classes:
      content = jnp.concatenate([content, nn.Embed(self.num_classes, content.shape[-1], name="class_embed")(label)], -1)
    if self.motion == "conv_gru":
      x, first_block = self._conv_gru_frames(content, motion_noise, skips), 1
    else:
      motion = nn.RNN(nn.GRUCell(self.motion_dim), name="motion_rnn")(motion_noise, initial_carry=carry)
      motion = motion.astype(content.dtype)  # The cell's carry is float32 whatever the compute dtype.
      if self.motion == "sprites":
        video = self._sprite_frames(content, motion, skips)
        return video if context is None else jnp.concatenate([context.astype(video.dtype), video], axis=1)
      z = jnp.concatenate([jnp.broadcast_to(content[:, None], (b, t, content.shape[-1])), motion], -1)
      x = nn.Dense(4 * 4 * self.widths[0], name="project")(z).reshape(b, t, 4, 4, self.widths[0])
      x, first_block = self._add_skip(nn.relu(layers.pixel_norm(x)), skips[0], "skip0"), 0
    for i in range(first_block, len(self.widths) - 1):
      x = layers.VideoConv(  # Nearest 2x upsampling, then the (2+1)D conv.
          self.widths[i + 1], temporal_kernel=self.temporal_kernel, temporal_padding="edge", upsample=2,
          small_grid_upsample=self.small_grid_upsample, impl=self.impl, name=f"block{i}",
      )(x)
      x = self._add_skip(nn.relu(layers.pixel_norm(x)), skips[i + 1], f"skip{i + 1}")
    r = self.output_upsample
    x = layers.SpatialConv(self.out_channels * r * r, impl=self.impl, name="to_pixels")(x)
    video = jnp.tanh(layers.depth_to_space(x, r))
    return video if context is None else jnp.concatenate([context.astype(video.dtype), video], axis=1)

  def _conv_gru_frames(self, content: jax.Array, motion_noise: jax.Array, skips: list) -> jax.Array:
    """Per-frame features `[B, T, 8, 8, widths[1]]`: the states of a ConvGRU run over the motion noise.

    The content latent is decoded once per clip to 8 px features, which
    start the recurrence: h_0 = tanh(conv(upsample(project(z_c)))).
    """
    b, t, _ = motion_noise.shape
    x = self._content_map(content, skips)
    h0 = jnp.tanh(layers.SpatialConv(self.widths[1], upsample=2, small_grid_upsample=self.small_grid_upsample,
                                     impl=self.impl, name="content_to_state")(x))[:, 0]
    # Unrolled: as a while loop on XLA:CPU, the default config's train step took 2.8x as long.
    rnn = nn.scan(ConvGRUCell, variable_broadcast="params", split_rngs={"params": False}, in_axes=1, out_axes=1,
                  unroll=t)
    _, h = rnn(self.widths[1], name="motion_conv_gru")(h0, motion_noise.astype(h0.dtype))  # [B, T, 8, 8, C]
    return self._add_skip(nn.relu(layers.pixel_norm(h)), skips[1], "skip1")

  def _sprite_frames(self, content: jax.Array, motion: jax.Array, skips: list) -> jax.Array:
    """Frames `[B, T, H, W, C]`: sprites decoded from `content`, placed by `motion` [B, T, D], over a background."""
    b, t, _ = motion.shape
    k, c, r = self.num_sprites, self.out_channels, self.output_upsample
    m = c + 1 if self.sprite_blend == "over" else c  # Channels per sprite: colour (and opacity for "over").
    shared = self.sprite_decoder == "shared"
    # shared: one 4 px map per layer (background, if any, first), all decoded by the same blocks (layers on the
    # T axis).
    bg = int(self.sprite_background)  # Background layers: 1 or 0.
    x = self._content_map(content, skips, maps=k + bg if shared else 1)
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
      x = self._add_skip(nn.relu(layers.pixel_norm(x)), skips[i + 1], f"skip{i + 1}")
      for j in range(1, self.block_depth):  # More depth at the same resolution.
        x = nn.relu(layers.pixel_norm(layers.SpatialConv(self.widths[i + 1], impl=self.impl, name=f"block{i}_{j}")(x)))
    side, size = 4 * 2 ** (len(self.widths) - 1) * r, sprites.shape[1]
    if bg:
      background = jnp.tanh(layers.depth_to_space(layers.SpatialConv(c * r * r, impl=self.impl, name="to_pixels")(x), r))
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
      # divides by the count: two slow XLA:CPU fusions, and the step 3-5% slower (README Performance). At a tie
      # the gradient is split pair by pair instead of evenly, another valid subgradient.
      brightest = functools.reduce(jnp.maximum, [ink[:, :, i] for i in range(k)], (background + 1) / 2)
      return 2 * brightest - 1  # background [B, 1, H, W, C]
    alpha = jax.nn.sigmoid(sprites[..., c:])  # [B, S, S, K, 1]
    premultiplied = jnp.concatenate([alpha * jnp.tanh(sprites[..., :c]), alpha], -1)  # a_k c_k, a_k
    moved = translate(premultiplied, corner[..., 0], corner[..., 1], side, whole_pixels=snap)  # [B, T, K, H, W, C + 1]
    frames = jnp.broadcast_to(background, (b, t, *background.shape[2:]))
    for i in range(k):  # Back to front: f = a_k c_k + (1 - a_k) f.
      frames = moved[:, :, i, ..., :c] + (1 - moved[:, :, i, ..., c:]) * frames
    return frames

  def _content_map(self, content: jax.Array, skips: list, maps: int = 1) -> jax.Array:
    """The clip's 4 px map(s) `[B, maps, 4, 4, widths[0]]` from the content latent (decoded once per clip)."""
    x = nn.Dense(4 * 4 * self.widths[0] * maps, name="project")(content).reshape(-1, maps, 4, 4, self.widths[0])
    return self._add_skip(nn.relu(layers.pixel_norm(x)), skips[0], "skip0")

  def _add_skip(self, x: jax.Array, skip: jax.Array | None, name: str) -> jax.Array:
    """x + W skip, the context's features at x's resolution, for every generated frame."""
    if skip is None:
      return x
    return x + nn.Dense(x.shape[-1], name=name)(skip)  # skip [B, 1, h, w, C] broadcasts over time.


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


class ConvGRUCell(nn.Module):
  """A convolutional GRU (Ballas et al., 2016) whose input is a vector per frame.

  With x_t [B, D] (broadcast over the map), h [B, H, W, C] and * a 3x3 SAME conv:

    u = sigmoid(W_u x_t + U_u * h)         update gate
    r = sigmoid(W_r x_t + U_r * h)         reset gate
    n = tanh(W_n x_t + r (U_n * h + b_n))  candidate
    h_t = (1 - u) n + u h

  (Flax's `GRUCell` convention, with the recurrent matmuls replaced by convs:
  a state can move its features across the map from frame to frame.)
  """

  features: int

  @nn.compact
  def __call__(self, h: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    c = self.features
    xi = nn.Dense(3 * c, dtype=h.dtype, name="input")(x)[:, None, None, :]  # W_u, W_r, W_n x_t (+ biases)
    hu, hr = jnp.split(nn.Conv(2 * c, (3, 3), use_bias=False, dtype=h.dtype, name="hidden_gates")(h), 2, axis=-1)
    u = jax.nn.sigmoid(xi[..., :c] + hu)
    r = jax.nn.sigmoid(xi[..., c : 2 * c] + hr)
    n = jnp.tanh(xi[..., 2 * c :] + r * nn.Conv(c, (3, 3), dtype=h.dtype, name="hidden_candidate")(h))
    h = (1 - u) * n + u * h
    return h, h
