"""GAN losses and penalties, written as the math they implement.

D outputs a logit l; D(x) = sigmoid(l) is the probability that x is real.
With log sigmoid(l) = -softplus(-l) and log(1 - sigmoid(l)) = -softplus(l),
the losses below are computed from logits in a numerically stable form.
Each function returns a scalar: the mean over every logit it is given.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp

LossFn = Callable[..., jax.Array]


def non_saturating_d_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """L_D = -[log D(x) + log(1 - D(G(z)))]  (Goodfellow et al., 2014)."""
  return jnp.mean(jax.nn.softplus(-real_logits)) + jnp.mean(jax.nn.softplus(fake_logits))


def non_saturating_g_loss(fake_logits: jax.Array) -> jax.Array:
  """L_G = -log D(G(z)): the non-saturating generator loss."""
  return jnp.mean(jax.nn.softplus(-fake_logits))


def hinge_d_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """L_D = E[max(0, 1 - l(x))] + E[max(0, 1 + l(G(z)))]  (Lim & Ye, 2017)."""
  return jnp.mean(jax.nn.relu(1.0 - real_logits)) + jnp.mean(jax.nn.relu(1.0 + fake_logits))


def hinge_g_loss(fake_logits: jax.Array) -> jax.Array:
  """L_G = -E[l(G(z))]."""
  return -jnp.mean(fake_logits)


GAN_LOSSES: dict[str, tuple[LossFn, LossFn]] = {
    "non_saturating": (non_saturating_d_loss, non_saturating_g_loss),
    "hinge": (hinge_d_loss, hinge_g_loss),
}


def r1_penalty(real_logit_fn: Callable[[jax.Array], jax.Array], real: jax.Array) -> jax.Array:
  """R1 = 1/2 E_x[ ||grad_x l(x)||^2 ] on real data (Mescheder et al., 2018).

  Args:
    real_logit_fn: maps a real batch [B, ...] to one logit per example [B].
    real: the real batch.

  The sum over the batch has per-example gradients as its gradient, because
  each logit depends on its own example only.
  """
  grads = jax.grad(lambda x: jnp.sum(real_logit_fn(x)))(real)
  return 0.5 * jnp.mean(jnp.sum(jnp.square(grads.reshape(grads.shape[0], -1)), axis=-1))
