"""Video convolution layers behind one small API.

Every layer takes and returns `[batch, time, height, width, channels]` and owns
the same parameters whatever the implementation, so checkpoints move freely
between them:

* `SpatialConv`: a 2-D `kernel x kernel` conv applied to every frame.
* `TemporalConv`: a 1-D conv of `kernel` taps along time.
* `VideoConv`: the (2+1)D block, spatial then temporal conv (Tran et al., 2018).

`impl` chooses how they are computed:

* "fold" (default): only 2-D convolutions and matmuls. Time is folded into the
  batch for spatial work; a temporal conv of k taps is k time-shifted copies of
  the input stacked on the channel axis feeding one matmul. On XLA:CPU the
  gradients of native 3-D convs are ~40x slower than 2-D ones (DESIGN.md);
  this form avoids them entirely.
* "native": `lax.conv_general_dilated` with 3-D kernels of shape (1, k, k) and
  (k, 1, 1), for accelerators whose 3-D convs are fast.
"""

from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

Impl = Literal["fold", "native"]
IMPLS = ("fold", "native")
_NDHWC = ("NDHWC", "DHWIO", "NDHWC")


def _same_padding(kernel: int, stride: int, size: int) -> tuple[int, int]:
  """TensorFlow-style SAME padding (more on the right when odd)."""
  out = -(-size // stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


class SpatialConv(nn.Module):
  """Per-frame 2-D conv. Params: kernel [k, k, C_in, C_out], bias [C_out]."""

  features: int
  kernel: int = 3
  stride: int = 1
  use_bias: bool = True
  impl: Impl = "fold"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    b, t, h, w, c = x.shape
    kernel = self.param(
        "kernel", nn.initializers.lecun_normal(), (self.kernel, self.kernel, c, self.features)
    )
    pad = [_same_padding(self.kernel, self.stride, h), _same_padding(self.kernel, self.stride, w)]
    if self.impl == "fold":
      y = lax.conv_general_dilated(
          x.reshape(b * t, h, w, c), kernel, (self.stride,) * 2, pad,
          dimension_numbers=("NHWC", "HWIO", "NHWC"),
      )
      y = y.reshape(b, t, *y.shape[1:])
    else:
      y = lax.conv_general_dilated(
          x, kernel[None], (1, self.stride, self.stride), [(0, 0), *pad], dimension_numbers=_NDHWC
      )
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,))
    return y


class TemporalConv(nn.Module):
  """1-D conv along time, SAME padded. Params: kernel [k, C_in, C_out], bias.

  `padding="edge"` repeats the first and last frames instead of padding with
  zeros, so a generator's boundary frames are computed like the middle ones.
  """

  features: int
  kernel: int = 3
  stride: int = 1
  use_bias: bool = True
  padding: Literal["zeros", "edge"] = "zeros"
  impl: Impl = "fold"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    b, t, h, w, c = x.shape
    kernel = self.param("kernel", nn.initializers.lecun_normal(), (self.kernel, c, self.features))
    lo, hi = _same_padding(self.kernel, self.stride, t)
    xp = jnp.pad(x, [(0, 0), (lo, hi), (0, 0), (0, 0), (0, 0)], mode="edge" if self.padding == "edge" else "constant")
    if self.impl == "fold":
      # y[t] = sum_i x[s t + i - lo] @ K[i]: stack the k shifted (and strided)
      # copies on the channel axis and contract them with K reshaped to
      # [k * C_in, C_out] in one matmul.
      t_out = -(-t // self.stride)
      span = (t_out - 1) * self.stride + 1
      taps = [xp[:, i : i + span : self.stride] for i in range(self.kernel)]
      y = jnp.concatenate(taps, axis=-1) @ kernel.reshape(self.kernel * c, self.features)
    else:
      y = lax.conv_general_dilated(xp, kernel[:, None, None], (self.stride, 1, 1), "VALID", dimension_numbers=_NDHWC)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,))
    return y


class VideoConv(nn.Module):
  """(2+1)D conv: spatial k x k (stride s) then temporal k_t (stride s_t)."""

  features: int
  kernel: int = 3
  stride: int = 1
  temporal_kernel: int = 3
  temporal_stride: int = 1
  temporal_padding: Literal["zeros", "edge"] = "zeros"
  impl: Impl = "fold"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = SpatialConv(self.features, self.kernel, self.stride, impl=self.impl, name="spatial")(x)
    return TemporalConv(
        self.features, self.temporal_kernel, self.temporal_stride, padding=self.temporal_padding,
        impl=self.impl, name="temporal",
    )(x)


def upsample_nearest(x: jax.Array, factor: int = 2) -> jax.Array:
  """Nearest-neighbour spatial upsampling of `[B, T, H, W, C]`."""
  return jnp.repeat(jnp.repeat(x, factor, axis=2), factor, axis=3)


def depth_to_space(x: jax.Array, block: int) -> jax.Array:
  """`[B, T, H, W, r*r*C]` -> `[B, T, r*H, r*W, C]`, channel (i*r + j)*C + c to pixel (i, j).

  The channel order is TensorFlow's `tf.nn.depth_to_space` (NHWC).
  """
  b, t, h, w, c = x.shape
  out = c // (block * block)
  x = x.reshape(b, t, h, w, block, block, out).transpose(0, 1, 2, 4, 3, 5, 6)
  return x.reshape(b, t, h * block, w * block, out)


def avg_pool_spatial(x: jax.Array, factor: int = 2) -> jax.Array:
  """Mean over `factor x factor` spatial blocks of `[B, T, H, W, C]`."""
  b, t, h, w, c = x.shape
  return x.reshape(b, t, h // factor, factor, w // factor, factor, c).mean(axis=(3, 5))


def pixel_norm(x: jax.Array, eps: float = 1e-8) -> jax.Array:
  """Normalises each feature vector to unit RMS (Karras et al., 2018); stateless."""
  return x * lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)

