"""Video conv layers: the 2-D ("fold") form against numpy loops and native 3-D convs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from videogan.models import layers


def numpy_temporal_conv(x, kernel, bias, stride, padding):
  """y[t] = sum_i x[stride*t + i - lo] @ K[i] + b (TF SAME padding); outside [0, T)
  x is zero, or for "edge" padding the nearest frame."""
  b, t, h, w, c = x.shape
  k = kernel.shape[0]
  t_out = -(-t // stride)
  lo = max((t_out - 1) * stride + k - t, 0) // 2
  y = np.zeros((b, t_out, h, w, kernel.shape[-1]), np.float64)
  for to in range(t_out):
    for i in range(k):
      ti = stride * to + i - lo
      if 0 <= ti < t:
        y[:, to] += x[:, ti] @ kernel[i]
      elif padding == "edge":
        y[:, to] += x[:, min(max(ti, 0), t - 1)] @ kernel[i]
  return y + bias


def numpy_spatial_conv(x, kernel, bias, stride):
  """Direct per-frame 2-D cross-correlation with SAME padding."""
  b, t, h, w, c = x.shape
  k = kernel.shape[0]
  out = [-(-n // stride) for n in (h, w)]
  pads = [max((o - 1) * stride + k - n, 0) // 2 for o, n in zip(out, (h, w), strict=True)]
  xp = np.pad(x, [(0, 0), (0, 0), (pads[0], k), (pads[1], k), (0, 0)])
  y = np.zeros((b, t, out[0], out[1], kernel.shape[-1]), np.float64)
  for i in range(out[0]):
    for j in range(out[1]):
      patch = xp[:, :, i * stride : i * stride + k, j * stride : j * stride + k]  # [b, t, k, k, c]
      y[:, :, i, j] = np.einsum("btijc,ijco->bto", patch, kernel)
  return y + bias


@pytest.mark.parametrize("impl", layers.IMPLS)
@pytest.mark.parametrize("padding", ["zeros", "edge"])
@pytest.mark.parametrize("kernel,stride,t", [(3, 1, 6), (3, 2, 7), (4, 2, 8), (1, 1, 3)])
def test_temporal_conv_matches_numpy(impl, padding, kernel, stride, t):
  x = np.random.default_rng(0).normal(size=(2, t, 3, 2, 4)).astype(np.float32)
  layer = layers.TemporalConv(5, kernel, stride, padding=padding, impl=impl)
  params = layer.init(jax.random.key(0), x)
  params = jax.tree.map(lambda p: p + 0.1, params)  # non-zero bias too
  got = layer.apply(params, x)
  want = numpy_temporal_conv(x, np.asarray(params["params"]["kernel"]), np.asarray(params["params"]["bias"]), stride, padding)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("impl", layers.IMPLS)
@pytest.mark.parametrize("kernel,stride", [(3, 1), (4, 2), (3, 2)])
def test_spatial_conv_matches_numpy(impl, kernel, stride):
  x = np.random.default_rng(1).normal(size=(2, 3, 8, 6, 3)).astype(np.float32)
  layer = layers.SpatialConv(4, kernel, stride, impl=impl)
  params = layer.init(jax.random.key(1), x)
  got = layer.apply(params, x)
  want = numpy_spatial_conv(x, np.asarray(params["params"]["kernel"]), np.asarray(params["params"]["bias"]), stride)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("impl", layers.IMPLS)
@pytest.mark.parametrize("kernel", [3, 4])
def test_upsampling_spatial_conv_matches_numpy(impl, kernel):
  """upsample=2 is a conv of the nearest-upsampled frames (fold + 3x3 runs on the small grid)."""
  x = np.random.default_rng(4).normal(size=(2, 3, 5, 4, 3)).astype(np.float32)
  layer = layers.SpatialConv(6, kernel, upsample=2, impl=impl)
  params = jax.tree.map(lambda p: p + 0.1, layer.init(jax.random.key(4), x))
  got = layer.apply(params, x)
  upsampled = x.repeat(2, axis=2).repeat(2, axis=3)
  want = numpy_spatial_conv(upsampled, np.asarray(params["params"]["kernel"]), np.asarray(params["params"]["bias"]), 1)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_upsampling_conv_gradients_match_explicit_upsampling():
  x = jax.random.normal(jax.random.key(5), (2, 3, 4, 4, 5))
  small_grid, explicit = layers.SpatialConv(7, upsample=2), layers.SpatialConv(7)
  params = small_grid.init(jax.random.key(6), x)
  grads = [jax.grad(lambda p, v, f=f: jnp.sum(jnp.sin(f(p, v))), argnums=(0, 1))(params, x) for f in (
      small_grid.apply, lambda p, v: explicit.apply(p, layers.upsample_nearest(v)))]
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), *grads)


def test_fold_and_native_gradients_agree():
  x = jax.random.normal(jax.random.key(2), (2, 5, 8, 8, 3))
  fold, native = (layers.VideoConv(4, temporal_stride=2, temporal_padding="edge", impl=i) for i in layers.IMPLS)
  params = fold.init(jax.random.key(3), x)
  loss = lambda m: jax.grad(lambda p, v: jnp.sum(jnp.sin(m.apply(p, v))), argnums=(0, 1))  # noqa: E731
  g_fold, g_native = loss(fold)(params, x), loss(native)(params, x)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), g_fold, g_native)


def test_resampling_helpers():
  x = jnp.arange(2 * 1 * 4 * 4 * 1, dtype=jnp.float32).reshape(2, 1, 4, 4, 1)
  up = layers.upsample_nearest(x)
  assert up.shape == (2, 1, 8, 8, 1)
  np.testing.assert_array_equal(up[:, :, ::2, ::2], x)
  np.testing.assert_array_equal(layers.avg_pool_spatial(up), x)
  n = layers.pixel_norm(jax.random.normal(jax.random.key(0), (3, 7)) * 5)
  np.testing.assert_allclose(jnp.mean(n**2, axis=-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("block", [2, 4])
def test_depth_to_space_matches_tensorflow(block):
  import tensorflow as tf

  x = np.random.default_rng(0).normal(size=(2, 3, 4, 5, block * block * 3)).astype(np.float32)
  expected = tf.nn.depth_to_space(x.reshape(6, 4, 5, -1), block).numpy().reshape(2, 3, 4 * block, 5 * block, 3)
  np.testing.assert_array_equal(layers.depth_to_space(jnp.asarray(x), block), expected)
