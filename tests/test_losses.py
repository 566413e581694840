"""GAN losses and R1 against hand computations in probability form."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from videogan import losses


def sigmoid(x):
  return 1.0 / (1.0 + math.exp(-x))


def test_non_saturating_matches_probability_form():
  real, fake = [2.0, -0.5], [-1.0, 3.0]
  # L_D = -[log D(x) + log(1 - D(G(z)))], each term averaged over its batch.
  expected_d = -np.mean([math.log(sigmoid(r)) for r in real]) - np.mean([math.log(1 - sigmoid(f)) for f in fake])
  expected_g = -np.mean([math.log(sigmoid(f)) for f in fake])
  np.testing.assert_allclose(losses.non_saturating_d_loss(jnp.array(real), jnp.array(fake)), expected_d, rtol=1e-6)
  np.testing.assert_allclose(losses.non_saturating_g_loss(jnp.array(fake)), expected_g, rtol=1e-6)


def test_non_saturating_at_chance_is_two_log_two():
  zeros = jnp.zeros(5)
  np.testing.assert_allclose(losses.non_saturating_d_loss(zeros, zeros), 2 * math.log(2), rtol=1e-6)
  np.testing.assert_allclose(losses.non_saturating_g_loss(zeros), math.log(2), rtol=1e-6)


def test_non_saturating_is_stable_for_confident_logits():
  # D certain and right: L_D -> 0. G fooling nobody: L_G -> -log sigmoid(-100) = 100.
  assert float(losses.non_saturating_d_loss(jnp.array([100.0]), jnp.array([-100.0]))) == pytest.approx(0.0, abs=1e-30)
  assert float(losses.non_saturating_g_loss(jnp.array([-100.0]))) == pytest.approx(100.0, rel=1e-6)


def test_hinge_by_hand():
  real, fake = jnp.array([0.5, 2.0]), jnp.array([-3.0, 0.25])
  # mean(max(0, 1 - [0.5, 2])) = mean(0.5, 0) = 0.25; mean(max(0, 1 + [-3, .25])) = mean(0, 1.25) = 0.625
  np.testing.assert_allclose(losses.hinge_d_loss(real, fake), 0.875, rtol=1e-6)
  np.testing.assert_allclose(losses.hinge_g_loss(fake), 1.375, rtol=1e-6)


def test_r1_of_linear_discriminator_is_half_squared_weight_norm():
  w = jnp.array([[1.0, -2.0], [0.5, 3.0]])
  x = jax.random.normal(jax.random.key(0), (4, 2, 2))
  logit = lambda v: jnp.sum(v * w, axis=(1, 2))  # noqa: E731
  # grad_x <w, x> = w for every example, so R1 = 1/2 ||w||^2 = 1/2 (1 + 4 + .25 + 9).
  np.testing.assert_allclose(losses.r1_penalty(logit, x), 0.5 * 14.25, rtol=1e-6)


def test_r1_of_quadratic_discriminator_is_per_example():
  x = np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32)
  logit = lambda v: 0.5 * jnp.sum(v**2, axis=1)  # noqa: E731
  # grad = x itself: R1 = 1/2 mean_i ||x_i||^2.
  np.testing.assert_allclose(losses.r1_penalty(logit, jnp.asarray(x)), 0.5 * np.mean(np.sum(x**2, axis=1)), rtol=1e-5)
