"""DiffAugment (videogan/augment.py) against numpy loops, and in the train step."""

import jax
import jax.numpy as jnp
import numpy as np

from videogan import augment, losses
from videogan.gan import state as state_lib
from videogan.gan.train_step import make_train_step
from videogan.models.gan import VideoGAN

B, T, H, W, C = 3, 2, 16, 12, 3


def clips(seed=0):
  return np.random.default_rng(seed).uniform(-1, 1, (B, T, H, W, C)).astype(np.float32)


def color_by_loop(x, b, s, c):
  out = np.empty_like(x, dtype=np.float64)
  for n in range(x.shape[0]):
    y = x[n].astype(np.float64) + (b[n] - 0.5)
    grey = y.mean(axis=-1, keepdims=True)
    y = (y - grey) * 2 * s[n] + grey
    out[n] = (y - y.mean()) * (c[n] + 0.5) + y.mean()
  return out


def shift_by_loop(x, shifts):
  out = np.zeros_like(x)
  for n, (dy, dx) in enumerate(shifts):
    for i in range(H):
      for j in range(W):
        if 0 <= i + dy < H and 0 <= j + dx < W:
          out[n, :, i, j] = x[n, :, i + dy, j + dx]
  return out


def cutout_by_loop(x, centres):
  out = x.copy()
  sh, sw = H // 2, W // 2
  for n, (cy, cx) in enumerate(centres):
    for i in range(cy - sh // 2, cy - sh // 2 + sh):
      for j in range(cx - sw // 2, cx - sw // 2 + sw):
        if 0 <= i < H and 0 <= j < W:
          out[n, :, i, j] = 0
  return out


def test_each_transform_equals_a_loop():
  x = clips()
  b, s, c = np.array([0.1, 0.5, 0.9]), np.array([0.0, 0.3, 1.0]), np.array([0.2, 0.6, 0.99])
  color = augment.apply(jnp.asarray(x), {"brightness": b, "saturation": s, "contrast": c})
  np.testing.assert_allclose(color, color_by_loop(x, b, s, c), rtol=1e-5, atol=1e-5)
  shifts = np.array([[2, -2], [-2, 0], [1, 1]])  # H/8 = 2, W/8 = 1.5 -> 2: the extremes
  np.testing.assert_array_equal(augment.apply(jnp.asarray(x), {"shift": shifts}), shift_by_loop(x, shifts))
  centres = np.array([[0, 0], [8, 6], [15, 11]])  # corners: the rectangle clipped at the edges
  np.testing.assert_array_equal(augment.apply(jnp.asarray(x), {"cutout_centre": centres}), cutout_by_loop(x, centres))
  both = augment.apply(jnp.asarray(x), {"shift": shifts, "cutout_centre": centres})  # in that order
  np.testing.assert_array_equal(both, cutout_by_loop(shift_by_loop(x, shifts), centres))


def test_gradient_is_the_transposed_map():
  # Shift + cutout is linear, out = M x, so grad_x <w, out> = M^T w: w scattered back by the loop's index map.
  x, w = clips(0), clips(1)
  shifts, centres = np.array([[1, -2], [0, 2], [-2, 1]]), np.array([[3, 4], [12, 2], [8, 8]])
  params = {"shift": shifts, "cutout_centre": centres}
  grad = jax.grad(lambda x: jnp.sum(jnp.asarray(w) * augment.apply(x, params)))(jnp.asarray(x))
  kept = cutout_by_loop(np.ones_like(x), centres) * w  # d out / d (shifted x) = the cutout mask
  expected = np.zeros_like(x)
  for n, (dy, dx) in enumerate(shifts):
    for i in range(H):
      for j in range(W):
        if 0 <= i + dy < H and 0 <= j + dx < W:
          expected[n, :, i + dy, j + dx] += kept[n, :, i, j]
  np.testing.assert_allclose(grad, expected, rtol=1e-6)


def test_drawn_transforms_cover_their_ranges_and_keep_frames_alike():
  params = augment.sample_params(jax.random.key(0), 4000, H, W, augment.POLICIES)
  shifts, centres = np.asarray(params["shift"]), np.asarray(params["cutout_centre"])
  assert set(shifts[:, 0]) == set(range(-2, 3)) and set(shifts[:, 1]) == set(range(-2, 3))
  assert set(centres[:, 0]) == set(range(H)) and set(centres[:, 1]) == set(range(W))
  for key in ("brightness", "saturation", "contrast"):
    v = np.asarray(params[key])
    assert 0 <= v.min() < 0.01 and 0.99 < v.max() < 1
  # A clip of one repeated frame stays one repeated frame: one transform per clip, not per frame.
  still = np.repeat(clips()[:, :1], 5, axis=1)
  out = np.asarray(augment.augment(jax.random.key(1), jnp.asarray(still), augment.POLICIES))
  np.testing.assert_array_equal(out, np.repeat(out[:, :1], 5, axis=1))
  assert augment.augment(jax.random.key(1), still, ()) is still
  assert augment.parse(" color, cutout ,") == ("color", "cutout") and augment.parse("") == ()


def test_train_step_d_loss_is_on_transformed_clips(tiny_config):
  """The step's L_D recomputed outside it: D's logits of T(x) and T(G(z)) with the step's draws."""
  config = tiny_config()
  config.augment = "color,translation,cutout"
  config.model.discriminator.spectral_norm = False  # D's stats stay fixed, so one D call reproduces the step's
  gan = VideoGAN.from_config(config)
  g_tx, d_tx = state_lib.make_optimizers(config)
  state = state_lib.create_state(jax.random.key(0), gan, g_tx, d_tx)
  b = config.batch_size
  real = jax.random.uniform(jax.random.key(1), (b, *gan.video_shape), minval=-1, maxval=1)
  rng = jax.random.key(2)
  _, metrics = jax.jit(make_train_step(gan, config))(state, {"video": real}, rng)

  step_rng = jax.random.fold_in(rng, state.step)
  z_rng, d_frames_rng, _ = jax.random.split(step_rng, 3)
  d_aug_rng, _ = jax.random.split(jax.random.fold_in(step_rng, 1))
  fake = gan.generate(state.g_params, z_rng, b)
  frame_idx = gan.frame_indices(d_frames_rng, b)
  seen = augment.augment(d_aug_rng, jnp.concatenate([real, fake]), augment.POLICIES)

  def d_loss(clips):
    logits, _ = gan.discriminate(state.d_params, state.d_stats, clips, jnp.concatenate([frame_idx, frame_idx]),
                                 update_stats=False)
    return sum(losses.non_saturating_d_loss(v[:b], v[b:]) for v in logits.values())

  np.testing.assert_allclose(metrics["d_loss"], d_loss(seen), rtol=1e-5)
  # Not the loss on the clips themselves: D saw transformed clips.
  assert abs(float(metrics["d_loss"]) - float(d_loss(jnp.concatenate([real, fake])))) > 1e-3
