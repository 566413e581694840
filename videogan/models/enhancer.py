"""The enhancement network: denoise, sharpen and super-resolve a frame from its neighbours.

`Enhancer` maps a window of `2r + 1` consecutive low-quality frames to the
clean centre frame at `scale` x the size (1: denoise/sharpen only, 2 or 4:
super-resolution). It predicts a residual over the bicubic upsampling of the
centre frame (VDSR, Kim et al. 2016):

  y = bicubic_s(x_t) + PixelShuffle_s(f([x_{t-r}, ..., x_{t+r}]))

f is a stack of EDSR residual blocks (Lim et al. 2017; conv-ReLU-conv, no
normalisation) on the low-resolution grid, where it is cheap, and sub-pixel
convolution (Shi et al. 2016) to go up `scale` x. The neighbours, stacked on the
channel axis, let it average noise along time and keep consecutive outputs
consistent. Its last conv starts at zero, so an untrained model is exactly the
bicubic baseline.

`FrameDiscriminator` (for the optional adversarial term) is the spatial head of
the video discriminator: stride-2 4x4 convs with leaky ReLU and spectral norm,
here over output frames, with one logit per patch.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax

SCALES = (1, 2, 4)


def depth_to_space(x: jax.Array, scale: int) -> jax.Array:
  """Pixel shuffle: [N, h, w, s*s*C] -> [N, h*s, w*s, C]; channel (i*s + j)*C + c lands at (y*s + i, x*s + j, c).

  The same layout as `tf.nn.depth_to_space` (NHWC).
  """
  n, h, w, c = x.shape
  out = c // (scale * scale)
  x = x.reshape(n, h, w, scale, scale, out).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(n, h * scale, w * scale, out)


def upsample(frames: jax.Array, scale: int) -> jax.Array:
  """Bicubic upsampling of [..., h, w, C] by `scale` (Keys kernel, a = -0.5): the baseline the model improves on."""
  if scale == 1:
    return frames
  *lead, h, w, c = frames.shape
  return jax.image.resize(frames, (*lead, h * scale, w * scale, c), method="bicubic")


class ResidualBlock(nn.Module):
  """x + res_scale * conv(relu(conv(x))) (EDSR; the scale keeps deep stacks stable)."""

  features: int
  res_scale: float = 0.1

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    y = nn.relu(nn.Conv(self.features, (3, 3), name="conv0")(x))
    return x + self.res_scale * nn.Conv(self.features, (3, 3), name="conv1")(y)


class Enhancer(nn.Module):
  """`[N, window, h, w, C]` frames in [-1, 1] -> the enhanced centre frame `[N, h*scale, w*scale, C]`.

  Attributes:
    scale: output size / input size: 1, 2 or 4.
    features: channels of the residual blocks.
    num_blocks: residual blocks on the low-resolution grid.
  """

  scale: int
  features: int
  num_blocks: int

  @nn.compact
  def __call__(self, frames: jax.Array) -> jax.Array:
    n, t, h, w, c = frames.shape
    centre = frames[:, t // 2]
    x = frames.transpose(0, 2, 3, 1, 4).reshape(n, h, w, t * c)  # Neighbours on the channel axis.
    x = skip = nn.Conv(self.features, (3, 3), name="head")(x)
    for i in range(self.num_blocks):
      x = ResidualBlock(self.features, name=f"block{i}")(x)
    x = nn.Conv(self.features, (3, 3), name="body_out")(x) + skip
    residual = nn.Conv(c * self.scale**2, (3, 3), kernel_init=nn.initializers.zeros, name="to_pixels")(x)
    return upsample(centre, self.scale) + depth_to_space(residual, self.scale)


class FrameDiscriminator(nn.Module):
  """Frames [N, H, W, C] -> patch logits [N, h', w'] (real/fake), for the optional adversarial term."""

  widths: Sequence[int]
  spectral_norm: bool

  @nn.compact
  def __call__(self, x: jax.Array, update_stats: bool = False) -> jax.Array:
    def apply(layer, x):
      if self.spectral_norm:
        return nn.SpectralNorm(layer, name=f"sn_{layer.name}")(x, update_stats=update_stats)
      return layer(x)

    for i, width in enumerate(self.widths):
      x = nn.leaky_relu(apply(nn.Conv(width, (4, 4), strides=2, name=f"conv{i}"), x), 0.2)
    return apply(nn.Conv(1, (3, 3), name="logit"), x)[..., 0]
