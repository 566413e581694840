"""MoCoGAN-style video generator (Tulyakov et al., 2018) with (2+1)D decoder.

A clip is decoded from one *content* latent shared by all frames and a
per-frame *motion* latent produced by a GRU driven by fresh noise each frame:

  z_c ~ N(0, I)            [batch, content_dim]
  e_t ~ N(0, I)            [batch, time, motion_noise_dim]
  h_t = GRU(h_{t-1}, e_t)  [batch, time, motion_dim]
  frame_t = decode([z_c, h_t])  with (2+1)D convs so frames share information.
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
    impl: video conv implementation, see `layers`.
  """

  widths: Sequence[int] = (256, 128, 64, 32, 16)
  out_channels: int = 1
  output_upsample: int = 1
  motion_dim: int = 16
  temporal_kernel: int = 3
  impl: layers.Impl = "fold"

  @nn.compact
  def __call__(self, content: jax.Array, motion_noise: jax.Array) -> jax.Array:
    b, t, _ = motion_noise.shape
    motion = nn.RNN(nn.GRUCell(self.motion_dim), name="motion_rnn")(motion_noise)
    z = jnp.concatenate([jnp.broadcast_to(content[:, None], (b, t, content.shape[-1])), motion], -1)
    x = nn.Dense(4 * 4 * self.widths[0], name="project")(z).reshape(b, t, 4, 4, self.widths[0])
    x = nn.relu(layers.pixel_norm(x))
    for i, width in enumerate(self.widths[1:]):
      x = layers.upsample_nearest(x)
      x = layers.VideoConv(
          width, temporal_kernel=self.temporal_kernel, temporal_padding="edge", impl=self.impl, name=f"block{i}"
      )(x)
      x = nn.relu(layers.pixel_norm(x))
    r = self.output_upsample
    x = layers.SpatialConv(self.out_channels * r * r, impl=self.impl, name="to_pixels")(x)
    return jnp.tanh(layers.depth_to_space(x, r))
