"""The `conv_gru` family: the recurrence runs on feature maps (as in DVD-GAN's generator, Clark et al., 2019).

z_c is decoded once to an 8 px map h_0, a convolutional GRU driven by e_t
updates it frame by frame, and each h_t is decoded from 8 px up by (2+1)D
convs. Its 3x3 recurrent convs can move features across the map from one
frame to the next.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from videogan.models import layers
from videogan.models.generators.common import GeneratorBase


def default_config() -> ml_collections.ConfigDict:
  """The family's options, with their defaults: `config.model.generator` when `name="conv_gru"`."""
  return ml_collections.ConfigDict({
      "name": "conv_gru",
      "widths": (128, 64, 32, 16, 8),  # Channels at 4, 8, 16, 32, 64 px; the ConvGRU's state has widths[1].
      "content_dim": 64,  # z_c, decoded to the ConvGRU's first state.
      "motion_noise_dim": 16,  # e_t, the ConvGRU's input each frame.
      "temporal_kernel": 3,  # Taps of the decoder's temporal convs.
      "output_upsample": 1,  # Sub-pixel factor of the last conv (1: none).
  })


class ConvGruGenerator(GeneratorBase):
  """Latents -> clip; a ConvGRU on 8 px maps of widths[1] channels (see `GeneratorBase` for the rest)."""

  temporal_kernel: int

  @nn.compact
  def __call__(self, content: jax.Array, motion_noise: jax.Array, context: jax.Array | None = None,
               label: jax.Array | None = None) -> jax.Array:
    """Clip `[B, k + T, H, W, C]` for context `[B, k, H, W, C]` (k = 0: none) and T = motion steps."""
    content, skips, _ = self.condition(content, context, label, motion_dim=None)
    x = self._conv_gru_frames(content, motion_noise, skips)
    return self.with_context(self.decode_frames(x, skips, 1, self.temporal_kernel), context)

  def _conv_gru_frames(self, content: jax.Array, motion_noise: jax.Array, skips: list) -> jax.Array:
    """Per-frame features `[B, T, 8, 8, widths[1]]`: the states of a ConvGRU run over the motion noise.

    The content latent is decoded once per clip to 8 px features, which
    start the recurrence: h_0 = tanh(conv(upsample(project(z_c)))).
    """
    b, t, _ = motion_noise.shape
    x = self.content_map(content, skips)
    h0 = jnp.tanh(layers.SpatialConv(self.widths[1], upsample=2, small_grid_upsample=self.small_grid_upsample,
                                     impl=self.impl, name="content_to_state")(x))[:, 0]
    # Unrolled: as a while loop on XLA:CPU, the default config's train step took 2.8x as long.
    rnn = nn.scan(ConvGRUCell, variable_broadcast="params", split_rngs={"params": False}, in_axes=1, out_axes=1,
                  unroll=t)
    _, h = rnn(self.widths[1], name="motion_conv_gru")(h0, motion_noise.astype(h0.dtype))  # [B, T, 8, 8, C]
    return self.add_skip(nn.relu(layers.pixel_norm(h)), skips[1], "skip1")


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
