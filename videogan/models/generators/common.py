"""What every generator family shares: its latents, its conditioning and its frame decoder.

A clip is made from a *content* latent z_c ~ N(0, I) [batch, content_dim]
shared by all frames and per-frame *motion* noise e_t ~ N(0, I)
[batch, time, motion_noise_dim]; each family (gru.py, conv_gru.py,
sprites.py) turns them into frames its own way.

Conditioning (both optional, the same for every family):

* context frames (`context_frames = k`, image-to-video for k = 1, prediction
  for k > 1): a 2-D encoder reads the k given frames stacked on the channel
  axis and returns a feature map at every decoder resolution. The 4 px map,
  pooled, starts a vector GRU's state (h_0) and joins z_c; every map is added
  to the decoder's features at its resolution for all generated frames (a
  U-Net-like skip, so G can carry the given appearance forward). Only the
  frames after the context are generated; the output is [context, generated]
  with the context passed through unchanged.
* class labels (`num_classes > 0`): a learned class embedding joins z_c.

Submodule names are the checkpoint's parameter names: keep them when moving code.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from videogan.models import layers


def sample_latents(rng: jax.Array, batch: int, clip_len: int, content_dim: int, motion_noise_dim: int) -> dict[str, jax.Array]:
  """Gaussian latents `{"content": [B, content_dim], "motion_noise": [B, T, noise_dim]}`."""
  content_rng, motion_rng = jax.random.split(rng)
  return {
      "content": jax.random.normal(content_rng, (batch, content_dim)),
      "motion_noise": jax.random.normal(motion_rng, (batch, clip_len, motion_noise_dim)),
  }


class GeneratorBase(nn.Module):
  """Latents -> clip `[batch, time, height, width, channels]` in [-1, 1]; the fields every family has.

  Attributes:
    widths: channels at resolutions 4, 8, 16, ...
    out_channels: 1 for grayscale, 3 for RGB.
    output_upsample: r > 1 makes the last conv emit r * r * out_channels
      channels that are rearranged into r x r pixel blocks (sub-pixel
      convolution, Shi et al., 2016), so the costliest resolution is never
      convolved. The output side is 4 * 2 ** (len(widths) - 1) * r.
    context_frames: number of given frames the clip continues (0: none).
    num_classes: > 0 for a class-conditional generator.
    impl: video conv implementation, see `layers`.
    small_grid_upsample: upsampling convs on the small grid (`layers.SpatialConv`).
  """

  widths: Sequence[int]
  out_channels: int
  output_upsample: int
  context_frames: int
  num_classes: int
  impl: layers.Impl
  small_grid_upsample: bool

  def condition(self, content: jax.Array, context: jax.Array | None, label: jax.Array | None,
                motion_dim: int | None) -> tuple[jax.Array, list, jax.Array | None]:
    """(content with the context's and class's codes joined, the context's skips, a vector GRU's start state).

    `motion_dim`: the size of the family's vector GRU state, started from the
    context; None for a family without one.
    """
    skips, carry = [None] * len(self.widths), None
    if self.context_frames and context is None:  # Unconditional (trained with model.context_dropout): no code.
      content = jnp.concatenate([content, jnp.zeros_like(content)], -1)
    elif self.context_frames:
      if context.shape[1] != self.context_frames:
        raise ValueError(f"this generator continues {self.context_frames} context frame(s); got context "
                         f"{context.shape}.")
      skips = self._encode_context(context)
      pooled = skips[0].mean(axis=(1, 2, 3))  # [B, widths[0]]
      if motion_dim is not None:
        carry = jnp.tanh(nn.Dense(motion_dim, name="context_to_motion")(pooled))
      content = jnp.concatenate([content, nn.Dense(content.shape[-1], name="context_to_content")(pooled)], -1)
    if self.num_classes:
      content = jnp.concatenate([content, nn.Embed(self.num_classes, content.shape[-1], name="class_embed")(label)], -1)
    return content, skips, carry

  def decode_frames(self, x: jax.Array, skips: list, first_block: int, temporal_kernel: int) -> jax.Array:
    """Per-frame features `[B, T, s, s, widths[first_block]]` -> frames, by (2+1)D upsampling blocks."""
    for i in range(first_block, len(self.widths) - 1):
      x = layers.VideoConv(  # Nearest 2x upsampling, then the (2+1)D conv.
          self.widths[i + 1], temporal_kernel=temporal_kernel, temporal_padding="edge", upsample=2,
          small_grid_upsample=self.small_grid_upsample, impl=self.impl, name=f"block{i}",
      )(x)
      x = self.add_skip(nn.relu(layers.pixel_norm(x)), skips[i + 1], f"skip{i + 1}")
    r = self.output_upsample
    x = layers.SpatialConv(self.out_channels * r * r, impl=self.impl, name="to_pixels")(x)
    return jnp.tanh(layers.depth_to_space(x, r))

  @staticmethod
  def with_context(video: jax.Array, context: jax.Array | None) -> jax.Array:
    """[context, generated] along time (the given frames unchanged)."""
    return video if context is None else jnp.concatenate([context.astype(video.dtype), video], axis=1)

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

  def content_map(self, content: jax.Array, skips: list, maps: int = 1) -> jax.Array:
    """The clip's 4 px map(s) `[B, maps, 4, 4, widths[0]]` from the content latent (decoded once per clip)."""
    x = nn.Dense(4 * 4 * self.widths[0] * maps, name="project")(content).reshape(-1, maps, 4, 4, self.widths[0])
    return self.add_skip(nn.relu(layers.pixel_norm(x)), skips[0], "skip0")

  def add_skip(self, x: jax.Array, skip: jax.Array | None, name: str) -> jax.Array:
    """x + W skip, the context's features at x's resolution, for every generated frame."""
    if skip is None:
      return x
    return x + nn.Dense(x.shape[-1], name=name)(skip)  # skip [B, 1, h, w, C] broadcasts over time.

