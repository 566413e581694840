"""Video convolution layers behind one small API.

Every layer takes and returns `[batch, time, height, width, channels]` and owns
the same parameters whatever the implementation, so checkpoints move freely
between them:

* `SpatialConv`: a 2-D `kernel x kernel` conv applied to every frame.
* `TemporalConv`: a 1-D conv of `kernel` taps along time.
* `VideoConv`: the (2+1)D block, spatial then temporal conv (Tran et al., 2018).

`impl` chooses how they are computed:

* "fold" (default): only 2-D convolutions and matmuls. Time is folded into the
  batch for spatial work; a temporal conv of k taps is a sum of k matmuls of
  time-shifted copies of the input with the taps' [C_in, C_out] kernels. On XLA:CPU the
  gradients of native 3-D convs are ~40x slower than 2-D ones (DESIGN.md);
  this form avoids them entirely.
  Nearest-neighbour upsampling followed by a 3x3 conv runs on the small grid.
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


def _pad_time(x: jax.Array, lo: int, hi: int, edge: bool) -> jax.Array:
  """Pads axis 1 with zeros, or with copies of the first/last frame if `edge`.

  Written as a concatenation: the gradient of `jnp.pad(mode="edge")` is a
  scatter that XLA:CPU runs ~10x slower than the slices of this form.
  """
  if not edge:
    return jnp.pad(x, [(0, 0), (lo, hi), (0, 0), (0, 0), (0, 0)])
  return jnp.concatenate([x[:, :1]] * lo + [x] + [x[:, -1:]] * hi, axis=1)


# Nearest-neighbour 2x upsampling then a 3-tap SAME conv is, along each axis,
# a 3-tap conv on the small grid per output phase a:
#   y[2i + a] = sum_d K[d] x[(2i + a + d - 1) // 2] = sum_e K'_a[e] x[i + e - 1],
# K'_a[e] = sum of the K[d] with (a + d - 1) // 2 == e - 1:
# K'_0 = (K[0], K[1] + K[2], 0) and K'_1 = (0, K[0] + K[1], K[2]).
_UPSAMPLE_TAPS = tuple(tuple(tuple(int((a + d - 1) // 2 == e - 1) for d in range(3)) for e in range(3)) for a in range(2))


def _remap_taps(kernel: jax.Array, table) -> jax.Array:
  """out[a, e] = sum_d table[a][e][d] kernel[d]: a 0/1 `table` applied to the kernel's first axis."""
  rows = [[sum((kernel[d] for d in range(3) if row[d]), jnp.zeros_like(kernel[0])) for row in phase] for phase in table]
  return jnp.stack([jnp.stack(phase) for phase in rows])


def _upsample_conv(x: jax.Array, kernel: jax.Array, bias) -> jax.Array:
  """conv3x3_SAME(upsample_nearest(x, 2), kernel) + bias for NHWC `x`, without the upsampled tensor.

  Output phase (a, b), the pixels (2i + a, 2j + b), is a 2x2 conv of `x` on
  the small grid (kernels K'_a x K'_b, `_UPSAMPLE_TAPS`; phase 0 reads offsets
  -1 and 0, phase 1 offsets 0 and +1): 4/9 of the FLOPs, at a quarter of the
  pixels, which XLA:CPU runs and differentiates several times faster for a
  generator's narrow last blocks; the upsampled tensor is never formed.
  """
  n, h, w, c = x.shape
  rows = _remap_taps(kernel, _UPSAMPLE_TAPS)  # [a, e, 3 (w), C, O]
  both = _remap_taps(jnp.moveaxis(rows, 2, 0), _UPSAMPLE_TAPS)  # [b, f, a, e, C, O]
  pad = ((1, 0), (0, 1))  # Phase 0 reads x[i - 1], x[i]; phase 1 x[i], x[i + 1].

  def phase(a: int, b: int) -> jax.Array:
    k = both[b, b : b + 2, a, a : a + 2].transpose(1, 0, 2, 3)  # [e, f, C, O], the taps phase (a, b) reads
    return lax.conv_general_dilated(x, k, (1, 1), [pad[a], pad[b]], dimension_numbers=("NHWC", "HWIO", "NHWC"))

  # Interleave: out[:, 2i + a, 2j + b] = phase(a, b)[:, i, j].
  out = jnp.stack([jnp.stack([phase(a, 0), phase(a, 1)], axis=3) for a in (0, 1)], axis=2)  # [n, h, a, w, b, O]
  return out.reshape(n, 2 * h, 2 * w, -1) + bias


class SpatialConv(nn.Module):
  """Per-frame 2-D conv. Params: kernel [k, k, C_in, C_out], bias [C_out].

  `upsample=2` convolves the nearest-neighbour 2x upsampled frames (resize-
  conv); with impl "fold", a 3x3 stride-1 kernel and `small_grid_upsample`
  it is computed on the small grid (`_upsample_conv`), with the same
  parameters. (Turn that off when parameters are sharded: XLA partitions its
  gradient wrongly under FSDP, tests/test_sharding.py.)
  """

  features: int
  kernel: int = 3
  stride: int = 1
  use_bias: bool = True
  upsample: int = 1
  small_grid_upsample: bool = True
  impl: Impl = "fold"
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param(
        "kernel", self.kernel_init, (self.kernel, self.kernel, x.shape[-1], self.features)
    ).astype(x.dtype)  # Computes in the input's dtype (see VideoGAN.compute_dtype).
    bias = self.param("bias", nn.initializers.zeros, (self.features,)).astype(x.dtype) if self.use_bias else 0.0
    if self.small_grid_upsample and (self.impl, self.upsample, self.kernel, self.stride) == ("fold", 2, 3, 1):
      b, t = x.shape[:2]
      y = _upsample_conv(x.reshape(b * t, *x.shape[2:]), kernel, bias)
      return y.reshape(b, t, *y.shape[1:])
    if self.upsample > 1:
      x = upsample_nearest(x, self.upsample)
    b, t, h, w, c = x.shape
    pad = [_same_padding(self.kernel, self.stride, h), _same_padding(self.kernel, self.stride, w)]
    if self.impl == "fold":
      y = lax.conv_general_dilated(
          x.reshape(b * t, h, w, c), kernel, (self.stride,) * 2, pad, dimension_numbers=("NHWC", "HWIO", "NHWC")
      )
      y = y.reshape(b, t, *y.shape[1:])
    else:
      y = lax.conv_general_dilated(
          x, kernel[None], (1, self.stride, self.stride), [(0, 0), *pad], dimension_numbers=_NDHWC
      )
    return y + bias


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
    kernel = self.param("kernel", nn.initializers.lecun_normal(), (self.kernel, c, self.features)).astype(x.dtype)
    xp = _pad_time(x, *_same_padding(self.kernel, self.stride, t), edge=self.padding == "edge")
    if self.impl == "fold":
      # y[t] = sum_i x[s t + i - lo] @ K[i]: one matmul per tap on the shifted
      # (and strided) frames, each flattened to 2-D (XLA:CPU's gradient of a
      # dot contracting over four batch-like axes is ~8x slower than over one).
      t_out = -(-t // self.stride)
      span = (t_out - 1) * self.stride + 1
      y = sum(xp[:, i : i + span : self.stride].reshape(-1, c) @ kernel[i] for i in range(self.kernel))
      y = y.reshape(b, t_out, h, w, self.features)
    else:
      y = lax.conv_general_dilated(xp, kernel[:, None, None], (self.stride, 1, 1), "VALID", dimension_numbers=_NDHWC)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,)).astype(x.dtype)
    return y


class VideoConv(nn.Module):
  """(2+1)D conv: [upsample,] spatial k x k (stride s), then temporal k_t (stride s_t)."""

  features: int
  kernel: int = 3
  stride: int = 1
  temporal_kernel: int = 3
  temporal_stride: int = 1
  temporal_padding: Literal["zeros", "edge"] = "zeros"
  upsample: int = 1  # Nearest-neighbour spatial upsampling before the spatial conv.
  small_grid_upsample: bool = True  # See SpatialConv.
  impl: Impl = "fold"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = SpatialConv(self.features, self.kernel, self.stride, upsample=self.upsample,
                    small_grid_upsample=self.small_grid_upsample, impl=self.impl, name="spatial")(x)
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

