"""DVD-GAN-style dual discriminator (Clark et al., 2019).

* `spatial_disc` judges `k` frames sampled at random from each clip, each on its
  own, at full resolution: is every frame a plausible image?
* `temporal_disc` judges the whole clip, spatially downsampled 2x, with (2+1)D
  convs: is the motion plausible?

With `spatial_depth = n > 1` each stride-2 conv of the spatial head is followed
by n - 1 stride-1 3x3 convs of the same width (as SNGAN's CNN discriminator
pairs them, Miyato et al., 2018): more depth, and at the coarse resolutions a
field of view of the whole frame, for about the cost of one more layer each.

Each head ends in a linear logit on its last features, either flattened (one
weight per position, DCGAN-style) or summed over positions (BigGAN-style, as
DVD-GAN's heads are). The sum judges an object by the same weights wherever it
is, so D need not learn a digit again at every place it can move to.

The GAN loss is applied to each head's logits and the two losses are summed.
Spectral normalisation (Miyato et al., 2018) on every layer is optional; its
power-iteration vectors live in the "batch_stats" collection.
"""

from collections.abc import Sequence
from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp

from videogan.models import layers

Pooling = Literal["flatten", "sum"]
POOLINGS = ("flatten", "sum")


class Discriminator(nn.Module):
  """Clip -> `{"spatial": [batch, k], "temporal": [batch]}` real/fake logits.

  Attributes:
    spatial_widths: channels of the stride-2 frame convs.
    temporal_widths: channels of the stride-2 (2+1)D convs on the half-size clip.
    spectral_norm: wrap every layer in `nn.SpectralNorm`.
    pooling: each head's logit from its last features "flatten"ed (a weight per
      position) or "sum"med over positions (and time).
    spatial_depth: convs per resolution in the spatial head: the stride-2 4x4
      conv, then `spatial_depth - 1` stride-1 3x3 convs.
    num_classes: > 0 makes D a projection discriminator (Miyato & Koyama,
      2018): each head's logit gets <embed(y), phi(x)>, phi(x) its last features.
    impl: video conv implementation, see `layers`.
  """

  spatial_widths: Sequence[int]
  temporal_widths: Sequence[int]
  spectral_norm: bool
  pooling: Pooling
  spatial_depth: int
  num_classes: int
  impl: layers.Impl

  def _apply(self, layer: nn.Module, x: jax.Array, update_stats: bool) -> jax.Array:
    if self.spectral_norm:
      return nn.SpectralNorm(layer, name=f"sn_{layer.name}")(x, update_stats=update_stats)
    return layer(x)

  def _projection(self, features: jax.Array, label: jax.Array | None, name: str) -> jax.Array:
    """<embed(y), phi(x)> over the last axis; 0 for an unconditional D."""
    if not self.num_classes:
      return jnp.zeros(features.shape[:-1])
    embed = nn.Embed(self.num_classes, features.shape[-1], name=name)(label)  # [B, F]
    return jnp.einsum("b...f,bf->b...", features, embed)

  @nn.compact
  def __call__(self, video: jax.Array, frame_idx: jax.Array, update_stats: bool = False,
               label: jax.Array | None = None) -> dict[str, jax.Array]:
    """Scores `video` [B, T, H, W, C]; `frame_idx` int [B, k] picks the frames for `spatial_disc`."""
    b = video.shape[0]

    # spatial_disc: per-frame 2-D convs on the k sampled frames.
    x = jnp.take_along_axis(video, frame_idx[:, :, None, None, None], axis=1)
    for i, width in enumerate(self.spatial_widths):
      conv = layers.SpatialConv(width, kernel=4, stride=2, impl=self.impl, name=f"spatial{i}")
      x = nn.leaky_relu(self._apply(conv, x, update_stats), 0.2)
      for j in range(1, self.spatial_depth):
        conv = layers.SpatialConv(width, kernel=3, impl=self.impl, name=f"spatial{i}_{j}")
        x = nn.leaky_relu(self._apply(conv, x, update_stats), 0.2)
    features = x.sum(axis=(2, 3)) if self.pooling == "sum" else x.reshape(*x.shape[:2], -1)  # [B, k, F]
    spatial = self._apply(nn.Dense(1, name="spatial_logit"), features, update_stats)[..., 0]
    spatial = spatial + self._projection(features, label, "spatial_class_embed")

    # temporal_disc: (2+1)D convs striding over space and time on the half-size clip.
    x = layers.avg_pool_spatial(video)
    for i, width in enumerate(self.temporal_widths):
      conv = layers.VideoConv(width, kernel=4, stride=2, temporal_stride=2 if x.shape[1] > 1 else 1, impl=self.impl, name=f"temporal{i}")
      x = nn.leaky_relu(self._apply(conv, x, update_stats), 0.2)
    features = x.sum(axis=(1, 2, 3)) if self.pooling == "sum" else x.reshape(b, -1)  # [B, F]
    temporal = self._apply(nn.Dense(1, name="temporal_logit"), features, update_stats)[..., 0]
    temporal = temporal + self._projection(features, label, "temporal_class_embed")

    return {"spatial": spatial, "temporal": temporal}
