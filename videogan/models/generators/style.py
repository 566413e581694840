"""The `style` family: a general generator for natural video, after StyleGAN-V (Skorokhodov et al., 2022).

No prior about what a scene holds: every frame is drawn by the same 2-D
synthesis network, steered by a per-frame style, and motion lives only in how
that style changes over time.

  w   = mapping(z_c)                               the clip's content style (an MLP)
  a_j = A e_{jP}                                   motion codes at anchor frames 0, P, 2P, ...
  m_t = (1 - f) a_j + f a_{j+1},  j = t // P, f = (t mod P) / P
                                                   continuous-time motion: codes interpolated between anchors
  x_4 = project(z_c)                               a 4 px map per clip (plus the context's features)
  x_2r = act(g * norm(conv(up(x_r))) + b),  [g, b] = Affine([w, m_t])
                                                   style-modulated upsampling blocks, each frame on its own
  frame_t = tanh(conv(x_final))

As in StyleGAN-V, frames are conditionally independent given their styles, so
a frame is cheap (only 2-D convs: fast on CPU, `layers`), time enters only
through the smooth motion codes, and a clip of any length is drawn at once.
The modulation scales and shifts normalised features per channel, as AdaIN
(StyleGAN's first form) does, rather than by weight demodulation, which costs a
weight per sample; the normalisation is PGGAN's pixel norm by default (AdaIN's
instance norm scored worse on bikes.mp4: docs/experiments/real_footage.md).

Layered motion (`motion_layers = K > 0`): modulation alone cannot move a thing
across the frame (a digit stays where the 4 px map put it), so the clip's
content is drawn as a still background L_0 and K feature layers, each moved as
a whole along its own path, then composited per frame (soft alpha), as layered
video models do (Wang and Adelson's layers; a sprite is a layer with a hard mask):

  L_k   = synth_R(map_k(z_c); w), k = 0..K         1 + K layers at R px (the blocks below R, style [w, 0])
  p_k,j = s_k(w) + sum_{i<j} (v_k(w) + u_k(a_i))   each layer's place at anchor j: a start, a velocity from
                                                   the content and a turn per anchor from the motion code
  x_t   = sum_k softmax_k(alpha_k) shift(L_k, p_k(t))  p_k(t) interpolated between anchors, p_0 = 0;
                                                   bilinear shift; a moved layer's alpha is -10 where it left
  then the blocks above R draw each frame from x_t with the style [w, m_t], as without layers.

Sprite layers (`sprite_layers = K > 0`): K sprites drawn once per clip and moved by a
GRU over the frames the network above draws, composited by opacity at full
resolution (the `sprites` family's layers, `sprites.py`, with the frames in
place of its still background): a thing keeps its shape while it moves, which
per-frame synthesis does not promise, and the synthesis still draws whatever
is not a sprite, including a background that changes (a camera that moves).

Warped frames (`warp = True`): the frames above are drawn each on its own, so nothing
carries a thing's pixels from one frame to the next. With `warp`, the last block also
draws a flow f_t (pixels) and a mask m_t per frame, and the clip is made recurrently,
as flow-based video predictors (vid2vid, Wang et al., 2018; voxel flow, Liu et al., 2017) do:

  out_t = m_t warp(out_{t-1}, f_t) + (1 - m_t) synth_t,   warp(x, f)(p) = x(p - f(p)) (bilinear)
  out_{-1} = the last context frame (a continuation moves the given pixels), or out_0 = synth_0 (whole clips)

so motion can move the pixels themselves (a texture, a digit), and the synthesis fills
in what is new. f starts at zero and m at 1/2.

Context frames (extension) add the encoder's features to every resolution,
as in every family (`common.GeneratorBase`).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from videogan.models import layers
from videogan.models.generators import sprites
from videogan.models.generators.common import GeneratorBase

NORMALIZATIONS = ("pixel", "instance")
OUTSIDE = 10.0  # A moved layer's alpha logit where it has left the frame (below every layer there).


def default_config() -> ml_collections.ConfigDict:
  """The family's options, with their defaults: `config.model.generator` when `name="style"`."""
  return ml_collections.ConfigDict({
      "name": "style",
      "widths": (256, 128, 64, 32, 16),  # Channels at 4, 8, 16, 32, 64 px.
      "content_dim": 128,  # z_c, shared by all frames of a clip.
      "motion_noise_dim": 32,  # e_t; every motion_period-th frame's is an anchor code.
      "style_dim": 128,  # w and m_t.
      "motion_period": 4,  # Frames between motion anchors (StyleGAN-V: a few frames' distance).
      "normalization": "pixel",  # Before each modulation: "pixel" (each pixel's features) or "instance" (AdaIN).
      "output_upsample": 1,  # Sub-pixel factor of the last conv (1: none).
      "motion_layers": 0,  # K > 0: K content layers that move over the frame (layered motion, below); 0: none.
      "layer_resolution": 16,  # Where the layers are moved and composited (px); the blocks above it draw frames.
      "sprite_layers": 0,  # K > 0: K sprites moved by a GRU over the frames, composited by opacity (below); 0: none.
      "sprite_widths": (128, 64, 32, 16, 8),  # The sprites' decoder (`sprites` family): 4 px ... the frame's side.
      "sprite_motion_dim": 16,  # Their GRU's state.
      "sprite_positions": "subpixel",  # Or "pixel" (whole pixels; `sprites.translate`).
      "sprite_opacity_offset": 0.0,  # Added to their opacity logits; < 0: they start see-through.
      "warp": False,  # Each frame the previous one warped by a drawn flow, blended with its synthesis (below).
  })


def backward_warp(image: jax.Array, flow: jax.Array) -> jax.Array:
  """`image` [B, H, W, C] sampled at p - flow(p), flow [B, H, W, 2] in pixels (rows, columns); bilinear,
  the edge pixels repeated outside."""
  h, w = image.shape[1:3]
  grid = jnp.stack(jnp.meshgrid(jnp.arange(h, dtype=flow.dtype), jnp.arange(w, dtype=flow.dtype), indexing="ij"), -1)
  coords = grid - flow

  def channel(x, c):  # [H, W], [H, W, 2]
    return jax.scipy.ndimage.map_coordinates(x, [c[..., 0], c[..., 1]], order=1, mode="nearest")

  return jax.vmap(jax.vmap(channel, in_axes=(2, None), out_axes=2))(image, coords)


def warp_recurrence(synth: jax.Array, flow: jax.Array, mask: jax.Array, start: jax.Array | None) -> jax.Array:
  """out_t = mask_t warp(out_{t-1}, flow_t) + (1 - mask_t) synth_t over [B, T, ...]; out_{-1} = `start`
  [B, H, W, C], or without one out_0 = synth_0."""
  def step(prev, inputs):
    s, f, m = inputs
    out = m * backward_warp(prev, f) + (1 - m) * s
    return out, out

  first = 0 if start is not None else 1
  prev = start if start is not None else synth[:, 0]
  inputs = jax.tree.map(lambda x: jnp.moveaxis(x[:, first:], 1, 0), (synth, flow, mask))
  _, outs = jax.lax.scan(step, prev, inputs)
  return jnp.concatenate([synth[:, :first], jnp.moveaxis(outs, 0, 1)], axis=1)


def interpolate_anchors(codes: jax.Array, num_frames: int, period: int) -> jax.Array:
  """codes [B, J, D] at frames 0, P, 2P, ... -> [B, num_frames, D], linear in between (J >= (T - 1) // P + 2)."""
  t = jnp.arange(num_frames)
  j, f = t // period, (t % period / period)[None, :, None]
  return (1 - f) * codes[:, j] + f * codes[:, j + 1]


class StyleGenerator(GeneratorBase):
  """Latents -> clip by style-modulated per-frame synthesis (see `GeneratorBase` for the shared fields)."""

  style_dim: int
  motion_period: int
  normalization: str
  motion_layers: int
  layer_resolution: int
  sprite_layers: int
  sprite_widths: tuple[int, ...]
  sprite_motion_dim: int
  sprite_positions: str
  sprite_opacity_offset: float
  warp: bool

  @nn.compact
  def __call__(self, content: jax.Array, motion_noise: jax.Array, context: jax.Array | None = None,
               label: jax.Array | None = None) -> jax.Array:
    """Clip `[B, k + T, H, W, C]` for context `[B, k, H, W, C]` (k = 0 or None: none) and T = motion steps."""
    b, t, _ = motion_noise.shape
    content, skips, _ = self.condition(content, context, label, motion_dim=None)
    w = content
    for i in range(2):
      w = nn.leaky_relu(nn.Dense(self.style_dim, name=f"mapping{i}")(w), 0.2)
    # Anchors at frames 0, P, ..., one past the last frame; e_t of the anchor frame (the last row past the end).
    anchors = jnp.concatenate([motion_noise[:, :: self.motion_period], motion_noise[:, -1:]], axis=1)
    codes = nn.Dense(self.style_dim, name="motion_codes")(anchors)
    motion = interpolate_anchors(codes, t, self.motion_period)
    style = jnp.concatenate([jnp.broadcast_to(w[:, None], (b, t, self.style_dim)), motion], -1)  # [B, T, 2S]

    if self.motion_layers:
      first = self.layer_resolution.bit_length() - 3  # The block index at R px: 4 * 2 ** first == R.
      if 4 << first != self.layer_resolution or first >= len(self.widths):
        raise ValueError(f"layer_resolution must be one of the resolutions 4, 8, ... "
                         f"{4 << (len(self.widths) - 1)}; got {self.layer_resolution}.")
      x = self._layered(content, skips, w, codes, t, first)
    else:
      first = 0
      x = jnp.broadcast_to(self.content_map(content, skips), (b, t, 4, 4, self.widths[0]))
      x = self._modulate(x, style, "style0")
    for i in range(first, len(self.widths) - 1):
      x = layers.SpatialConv(self.widths[i + 1], upsample=2, small_grid_upsample=self.small_grid_upsample,
                             impl=self.impl, name=f"block{i}")(x)
      x = self.add_skip(self._modulate(x, style, f"style{i + 1}"), skips[i + 1], f"skip{i + 1}")
    r = self.output_upsample
    frames = jnp.tanh(layers.depth_to_space(layers.SpatialConv(self.out_channels * r * r, impl=self.impl,
                                                               name="to_pixels")(x), r))
    if self.warp:  # Flow (2) and mask (1) per pixel, from zero: no flow, half of each.
      head = layers.depth_to_space(layers.SpatialConv(3 * r * r, impl=self.impl, kernel_init=nn.initializers.zeros,
                                                      name="to_flow")(x), r)
      start = context[:, -1].astype(frames.dtype) if context is not None and context.shape[1] else None
      for name, value in (("synth", frames), ("warp_head", head)):  # For tests and inspection.
        self.sow("intermediates", name, value)
      frames = warp_recurrence(frames, head[..., :2], jax.nn.sigmoid(head[..., 2:]), start)
    if self.sprite_layers:  # Opaque-where-drawn layers over the frames, from the same latents (context and class joined).
      frames = sprites.SpriteGenerator(
          widths=self.sprite_widths, out_channels=self.out_channels, output_upsample=r, context_frames=0,
          num_classes=0, impl=self.impl, small_grid_upsample=self.small_grid_upsample,
          motion_dim=self.sprite_motion_dim, num_sprites=self.sprite_layers, sprite_blend="over", sprite_decoder="shared",
          sprite_positions=self.sprite_positions, sprite_background=False, block_depth=2,
          opacity_offset=self.sprite_opacity_offset, name="sprite_layers",
      )(content, motion_noise, background=frames)
    return self.with_context(frames, context)

  def _layered(self, content: jax.Array, skips: list, w: jax.Array, codes: jax.Array, t: int,
               blocks: int) -> jax.Array:
    """A still background and K layers drawn once per clip at R px, the K moved along their paths,
    composited: `[B, T, R, R, C]`."""
    b, k, side = content.shape[0], self.motion_layers, self.layer_resolution
    static = jnp.broadcast_to(jnp.concatenate([w, jnp.zeros_like(w)], -1)[:, None], (b, k + 1, 2 * self.style_dim))
    x = self._modulate(self.content_map(content, skips, maps=k + 1), static, "style0")  # [B, 1 + K, 4, 4, C]
    for i in range(blocks):  # The same blocks as the frames', on the layers instead of the frames.
      x = layers.SpatialConv(self.widths[i + 1], upsample=2, small_grid_upsample=self.small_grid_upsample,
                             impl=self.impl, name=f"block{i}")(x)
      x = self.add_skip(self._modulate(x, static, f"style{i + 1}"), skips[i + 1], f"skip{i + 1}")
    x = jnp.concatenate([x, layers.SpatialConv(1, impl=self.impl, name="layer_alpha")(x)], -1)

    # Paths in units of the frame's side; zero at the start, so the layers begin still.
    def dense(name: str) -> nn.Dense:
      return nn.Dense(2 * k, kernel_init=nn.initializers.zeros, name=name)

    velocity = dense("layer_velocity")(w)[:, None] + dense("layer_turn")(codes)  # [B, J, 2K] per anchor step
    places = dense("layer_start")(w)[:, None] + jnp.cumsum(velocity, axis=1) - velocity  # sum over i < j
    path = interpolate_anchors(places, t, self.motion_period).reshape(b, t, k, 2) * side

    # Where a moved layer uncovers the frame its alpha is -OUTSIDE, so the background shows there.
    moving = x[:, 1:].at[..., -1].add(OUTSIDE).transpose(0, 2, 3, 1, 4)  # [B, R, R, K, C+1]
    moved = sprites.translate(moving, path[..., 0], path[..., 1], side).at[..., -1].add(-OUTSIDE)
    background = jnp.broadcast_to(x[:, None, :1], (b, t, 1, *x.shape[2:]))
    all_layers = jnp.concatenate([background, moved], axis=2)  # [B, T, 1 + K, R, R, C+1]
    weights = jax.nn.softmax(all_layers[..., -1:], axis=2)  # Each pixel's share per layer.
    for name, value in (("layers", x), ("path", path)):  # For tests and inspection (kept only when asked).
      self.sow("intermediates", name, value)
    return (weights * all_layers[..., :-1]).sum(axis=2)

  def _modulate(self, x: jax.Array, style: jax.Array, name: str) -> jax.Array:
    """leaky_relu((1 + g) norm(x) + b) with [g, b] an affine map of the frame's style."""
    # Zero at the start (the styles' effect grows from nothing, as ReZero's residuals do).
    gain, bias = jnp.split(nn.Dense(2 * x.shape[-1], kernel_init=nn.initializers.zeros, name=name)(style), 2, -1)
    if self.normalization == "instance":  # Each frame's channel to zero mean, unit variance over its pixels.
      mean = x.mean(axis=(2, 3), keepdims=True)
      x = (x - mean) * jax.lax.rsqrt(jnp.square(x - mean).mean(axis=(2, 3), keepdims=True) + 1e-5)
    else:
      x = layers.pixel_norm(x)
    return nn.leaky_relu((1 + gain[:, :, None, None]) * x + bias[:, :, None, None], 0.2)
