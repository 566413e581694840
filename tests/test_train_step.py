"""The pure train step on one device: EMA by hand, determinism, what it updates."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from videogan.gan import state as state_lib
from videogan.gan.train_step import make_train_step
from videogan.models.gan import VideoGAN


def build(config):
  """The seed's fresh state for `config`, a batch of uniform noise clips and the jitted step."""
  gan = VideoGAN.from_config(config)
  g_tx, d_tx = state_lib.make_optimizers(config)
  state = state_lib.create_state(jax.random.key(0), gan, g_tx, d_tx)
  batch = {"video": jax.random.uniform(jax.random.key(1), (config.batch_size, *gan.video_shape), minval=-1, maxval=1)}
  return state, batch, jax.jit(make_train_step(gan, config))


@pytest.fixture(scope="module")
def setup(tiny_config):
  config = tiny_config()
  config.ema_decay = 0.9
  # The classic objective with a spectrally normalised D; R1 is tested below.
  config.model.discriminator.spectral_norm, config.r1_weight = True, 0.0
  return config, *build(config)


def test_step_updates_everything_and_ema_by_hand(setup):
  config, state, batch, step = setup
  new, metrics = step(state, batch, jax.random.key(2))
  assert int(new.step) == 1
  changed = lambda a, b: any(not np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))  # noqa: E731
  assert changed(new.g_params, state.g_params) and changed(new.d_params, state.d_params)
  assert changed(new.d_stats, state.d_stats)  # spectral-norm power iteration advanced
  # ema_1 = 0.9 * ema_0 + 0.1 * g_1, with ema_0 = g_0.
  jax.tree.map(
      lambda e, g0, g1: np.testing.assert_allclose(e, 0.9 * np.asarray(g0) + 0.1 * np.asarray(g1), rtol=1e-6, atol=1e-7),
      new.ema_g_params, state.g_params, new.g_params,
  )
  assert set(metrics) == {"d_loss", "g_loss", "r1_penalty", "g_l1", "d_real", "d_fake", "d_grad_norm", "g_grad_norm"}
  assert all(np.isfinite(float(v)) for v in metrics.values())
  assert 0 < float(metrics["d_real"]) < 1 and 0 < float(metrics["d_fake"]) < 1
  assert float(metrics["r1_penalty"]) == 0.0


def test_step_is_deterministic_and_uses_the_step_for_randomness(setup):
  _, state, batch, step = setup
  a, _ = step(state, batch, jax.random.key(5))
  b, _ = step(state, batch, jax.random.key(5))
  jax.tree.map(np.testing.assert_array_equal, a.g_params, b.g_params)
  # Same rng, different step number: the folded-in step changes the noise.
  c, _ = step(state.replace(step=jnp.ones((), jnp.int32)), batch, jax.random.key(5))
  assert not np.array_equal(jax.tree.leaves(a.g_params)[0], jax.tree.leaves(c.g_params)[0])


def test_r1_and_hinge_variants_run(setup, tiny_config):
  _, state, batch, _ = setup
  config = tiny_config()
  config.model.discriminator.spectral_norm = True  # The same D as `setup`'s state.
  config.loss, config.r1_weight = "hinge", 10.0
  gan = VideoGAN.from_config(config)
  _, metrics = jax.jit(make_train_step(gan, config))(state, batch, jax.random.key(0))
  assert float(metrics["r1_penalty"]) > 0 and np.isfinite(float(metrics["d_loss"]))


def test_g_gradient_is_dL_G_through_the_updated_discriminator(setup):
  """The step's shared-forward VJP equals jax.grad of L_G(D_new(G(z))) written directly."""
  from videogan import losses

  config, state, batch, step = setup
  rng = jax.random.key(7)
  new, metrics = step(state, batch, rng)
  gan, (z_rng, _, g_frames_rng) = VideoGAN.from_config(config), step_draws(state, rng)
  b = config.batch_size

  def direct_g_loss(g_params):
    logits, _ = gan.discriminate(new.d_params, new.d_stats, gan.generate(g_params, z_rng, b),
                                 gan.frame_indices(g_frames_rng, b), update_stats=False)
    return losses.non_saturating_g_loss(logits["spatial"]) + losses.non_saturating_g_loss(logits["temporal"])

  loss, grads = jax.jit(jax.value_and_grad(direct_g_loss))(state.g_params)
  np.testing.assert_allclose(metrics["g_loss"], loss, rtol=1e-5)
  np.testing.assert_allclose(metrics["g_grad_norm"], optax_global_norm(grads), rtol=1e-4)


def test_d_step_equals_one_pass_over_real_and_fake(setup):
  """The step's two D passes (real, then fake, from the same stats) give one pass over [real; fake]'s
  L_D, gradient and updated spectral-norm stats, written directly."""
  from videogan import losses

  config, state, batch, step = setup
  rng = jax.random.key(9)
  new, metrics = step(state, batch, rng)
  gan, (z_rng, d_frames_rng, _) = VideoGAN.from_config(config), step_draws(state, rng)
  b = config.batch_size
  both = jnp.concatenate([batch["video"], gan.generate(state.g_params, z_rng, b)])
  frame_idx = gan.frame_indices(d_frames_rng, b)

  def one_pass(d_params):
    logits, stats = gan.discriminate(d_params, state.d_stats, both, jnp.concatenate([frame_idx, frame_idx]),
                                     update_stats=True)
    return sum(losses.non_saturating_d_loss(logit[:b], logit[b:]) for logit in logits.values()), stats

  (loss, stats), grads = jax.jit(jax.value_and_grad(one_pass, has_aux=True))(state.d_params)
  np.testing.assert_allclose(metrics["d_loss"], loss, rtol=1e-5)
  np.testing.assert_allclose(metrics["d_grad_norm"], optax_global_norm(grads), rtol=1e-4)
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6), new.d_stats, stats)


def step_draws(state, rng):
  """The step's keys for G's latents, D's frames and G's frames, split as train_step splits them."""
  return jax.random.split(jax.random.fold_in(rng, state.step), 3)


def optax_global_norm(tree):
  return np.sqrt(sum(np.sum(np.square(np.asarray(x, np.float64))) for x in jax.tree.leaves(tree)))


def test_r1_without_spectral_norm(tiny_config):
  config = tiny_config()
  config.model.discriminator.spectral_norm, config.r1_weight = False, 0.2
  state, batch, step = build(config)
  assert jax.tree.leaves(state.d_stats) == []  # no power-iteration state without spectral norm
  new, metrics = step(state, batch, jax.random.key(2))
  assert float(metrics["r1_penalty"]) > 0 and np.isfinite(float(metrics["d_loss"])) and int(new.step) == 1


def test_lazy_r1_is_n_times_the_penalty_every_nth_step_and_nothing_between(tiny_config):
  """r1_every=3: step 0 equals an every-step run with weight 3 * gamma; step 1 equals a run without R1."""
  def make_step(**overrides):
    config = tiny_config()
    config.model.discriminator.spectral_norm = False
    config.update(overrides)
    state, batch, step_fn = build(config)
    return lambda step: step_fn(state.replace(step=jnp.asarray(step, state.step.dtype)), batch, jax.random.key(2))

  lazy = make_step(r1_weight=0.2, r1_every=3)
  for step, eager in ((0, make_step(r1_weight=0.6, r1_every=1)), (1, make_step(r1_weight=0.0))):
    (lazy_state, lazy_metrics), (eager_state, eager_metrics) = lazy(step), eager(step)
    np.testing.assert_allclose(lazy_metrics["r1_penalty"], eager_metrics["r1_penalty"], rtol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8), lazy_state.d_params, eager_state.d_params)
    assert (float(lazy_metrics["r1_penalty"]) > 0) == (step == 0)


def test_bfloat16_compute_keeps_float32_state_and_matches_float32(setup, tiny_config):
  """compute_dtype=bfloat16: the same step to bf16 precision, with every state leaf still float32."""
  _, state, batch, step = setup
  config = tiny_config()
  config.ema_decay = 0.9
  config.model.discriminator.spectral_norm, config.r1_weight = True, 0.0
  config.model.compute_dtype = "bfloat16"
  gan = VideoGAN.from_config(config)
  new_bf16, metrics_bf16 = jax.jit(make_train_step(gan, config))(state, batch, jax.random.key(2))
  new_f32, metrics_f32 = step(state, batch, jax.random.key(2))
  assert {leaf.dtype for leaf in jax.tree.leaves(new_bf16) if jnp.issubdtype(leaf.dtype, jnp.floating)} == {jnp.dtype("float32")}
  # bf16 keeps 8 bits of mantissa: losses agree to ~1e-2 relative.
  for name in ("d_loss", "g_loss", "d_real", "d_fake"):
    np.testing.assert_allclose(float(metrics_bf16[name]), float(metrics_f32[name]), rtol=3e-2)
  # Adam's first step moves each parameter by ~lr: the bf16 step's parameters are close to the f32 step's.
  lr = config.optimizer.g_learning_rate
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=2.5 * lr), new_bf16.g_params, new_f32.g_params)


def test_linear_learning_rate_decay_by_hand(tiny_config):
  """optimizer.decay="linear": Adam's step on a constant gradient g is -lr_t g / (|g| + eps) ~ -lr_t,
  with lr_t = lr before decay_begin = 4 and lr (10 - t) / (10 - 4) from there to total_steps = 10."""
  config = tiny_config()
  config.total_steps, config.optimizer.decay, config.optimizer.decay_begin = 10, "linear", 4
  config.optimizer.g_learning_rate, config.optimizer.d_learning_rate = 1e-3, 3e-3
  expected = [1.0] * 4 + [(10 - t) / 6 for t in range(4, 10)]
  for tx, lr in zip(state_lib.make_optimizers(config), (1e-3, 3e-3), strict=True):
    params = {"w": jnp.zeros(2)}
    opt_state = tx.init(params)
    steps = []
    for _ in range(10):
      updates, opt_state = tx.update({"w": jnp.array([0.5, -2.0])}, opt_state, params)
      steps.append(np.asarray(updates["w"]))
    np.testing.assert_allclose(np.stack(steps), -lr * np.array(expected)[:, None] * np.array([1, -1]), rtol=1e-5)


def test_ema_rampup_by_hand(setup, tiny_config):
  """StyleGAN2's warm-up: at step s the EMA's half-life is min(h, r s), h that of ema_decay."""
  _, state, batch, _ = setup
  config = tiny_config()
  config.model.discriminator.spectral_norm = True  # The same D as `setup`'s state.
  config.ema_decay, config.ema_rampup = 0.999, 0.05
  step = jax.jit(make_train_step(VideoGAN.from_config(config), config))
  h = np.log(0.5) / np.log(0.999)  # 692.8 steps
  for s, half_life in [(10, 0.05 * 11), (20000, h)]:  # Early: r (s + 1); late: h itself, so beta = ema_decay.
    at = state.replace(step=jnp.asarray(s, jnp.int32))
    new, _ = step(at, batch, jax.random.key(3))
    beta = 0.5 ** (1 / half_life)
    for e, e0, g1 in zip(*(jax.tree.leaves(t) for t in (new.ema_g_params, at.ema_g_params, new.g_params)), strict=True):
      np.testing.assert_allclose(e, beta * np.asarray(e0) + (1 - beta) * np.asarray(g1), rtol=1e-5, atol=1e-6)
  assert abs(0.5 ** (1 / h) - 0.999) < 1e-12
