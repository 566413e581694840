"""The `gru` family: a MoCoGAN-style generator (Tulyakov et al., 2018) with a (2+1)D decoder.

Each frame is decoded from the content latent and a per-frame motion vector
from a GRU driven by fresh noise each frame:

  h_t = GRU(h_{t-1}, e_t)  [batch, time, motion_dim]
  frame_t = decode([z_c, h_t])  with (2+1)D convs so frames share information.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from videogan.models import layers
from videogan.models.generators.common import GeneratorBase


def default_config() -> ml_collections.ConfigDict:
  """The family's options, with their defaults: `config.model.generator` when `name="gru"`."""
  return ml_collections.ConfigDict({
      "name": "gru",
      "widths": (128, 64, 32, 16, 8),  # Channels at 4, 8, 16, 32, 64 px.
      "content_dim": 64,  # z_c, shared by all frames of a clip.
      "motion_noise_dim": 16,  # e_t, fresh each frame.
      "motion_dim": 16,  # The GRU's state h_t.
      "temporal_kernel": 3,  # Taps of the decoder's temporal convs.
      "output_upsample": 1,  # Sub-pixel factor of the last conv (1: none).
  })


class GruGenerator(GeneratorBase):
  """Latents -> clip; `motion_dim` GRU units, `temporal_kernel` taps (see `GeneratorBase` for the rest)."""

  motion_dim: int
  temporal_kernel: int

  @nn.compact
  def __call__(self, content: jax.Array, motion_noise: jax.Array, context: jax.Array | None = None,
               label: jax.Array | None = None) -> jax.Array:
    """Clip `[B, k + T, H, W, C]` for context `[B, k, H, W, C]` (k = 0: none) and T = motion steps."""
    b, t, _ = motion_noise.shape
    content, skips, carry = self.condition(content, context, label, self.motion_dim)
    motion = nn.RNN(nn.GRUCell(self.motion_dim), name="motion_rnn")(motion_noise, initial_carry=carry)
    motion = motion.astype(content.dtype)  # The cell's carry is float32 whatever the compute dtype.
    z = jnp.concatenate([jnp.broadcast_to(content[:, None], (b, t, content.shape[-1])), motion], -1)
    x = nn.Dense(4 * 4 * self.widths[0], name="project")(z).reshape(b, t, 4, 4, self.widths[0])
    x = self.add_skip(nn.relu(layers.pixel_norm(x)), skips[0], "skip0")
    return self.with_context(self.decode_frames(x, skips, 0, self.temporal_kernel), context)
