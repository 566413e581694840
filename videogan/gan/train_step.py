"""One adversarial training step: the reference implementation.

Notation: G is the generator, D the discriminator, l(x) the logit D assigns to
a clip x (one per head: `spatial_disc` per sampled frame, `temporal_disc` per
clip) and D(x) = sigmoid(l(x)). With the default non-saturating loss:

  L_D = -[log D(x) + log(1 - D(G(z)))]     x ~ data, z ~ N(0, I)
  L_G = -log D(G(z))

summed over the two heads (each head's loss is a mean over its logits), plus
optionally the R1 penalty (gamma / 2) E||grad_x l(x)||^2 on real clips
(`r1_weight`; lazily every `r1_every` steps).

Order: D first, then G against the *updated* D, as in DCGAN. The G step then
follows the freshest estimate of the real/fake boundary.

Conditional models: G also takes the clip's first `context_frames` real frames
(and passes them through unchanged) and/or its class label, and D the label;
L_D and L_G are the same expressions with G(z | context, y) and D(x | y).
Prediction models may add lambda * mean |G(z | x_<k)_t - x_t| over the
predicted frames t >= k to L_G (`prediction_l1`; adversarial + L1 as in
pix2pix and Mathieu et al., 2016), which ties the continuation to the truth.
With `model.context_dropout` p, the last round(p B) clips of each fake batch
are drawn without context (whole clips, G(z)), so one G learns both jobs; the
L1 term then covers only the clips that had context. With `model.rollout_fraction`
some of those are continued once more from their own last k frames, and D
judges that second window (G(z' | G(z | x_<k)_{T-k:T})): what a rollout's later
windows are made of; the L1 term skips them too (they have no truth).

With `augment` (DiffAugment, videogan/augment.py), D sees only T(x) and T(G(z)), one
random differentiable transform per clip, drawn anew for the D and the G step;
R1 is then taken on T(x), and the L1 term on the untransformed G(z).

Both updates use the same fake batch G(z), computed once: its VJP carries
dL_G/dG(z) back to G's parameters (the chain rule
dL_G/dtheta_G = dL_G/dG(z) . dG(z)/dtheta_G), which saves a whole forward pass
of G per step (G dominates the step's cost).
"""

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax

from videogan import augment, losses
from videogan.gan.state import TrainState
from videogan.models.gan import VideoGAN

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]


def make_train_step(gan: VideoGAN, config: ml_collections.ConfigDict) -> Callable[[TrainState, Batch, jax.Array], tuple[TrainState, Metrics]]:
  """Builds `train_step(state, batch, rng) -> (state, metrics)` for `config`."""
  d_gan_loss, g_gan_loss = losses.GAN_LOSSES[config.loss]
  r1_weight, r1_every = config.r1_weight, config.r1_every
  ema_decay, ema_rampup = config.ema_decay, config.ema_rampup
  half_life = math.log(0.5) / math.log(ema_decay) if ema_decay > 0 else 0.0  # Steps h with decay^h = 1/2.
  l1_weight, k = config.prediction_l1, gan.context_frames
  policy = augment.parse(config.augment)

  def r1(d_params, d_stats, real, frame_idx, label, step):
    """gamma/2 E||grad_x l(x)||^2 with l(x) the sum of a clip's head logits.

    Lazy (StyleGAN2, Karras et al., 2020): with r1_every = n > 1 the penalty
    is n * gamma/2 E||.||^2 on every n-th step and 0 otherwise, the same
    average weight at 1/n of the cost of its double backward pass.
    """
    def clip_logit(x):
      logits, _ = gan.discriminate(d_params, d_stats, x, frame_idx, update_stats=False, label=label)
      return logits["spatial"].mean(axis=1) + logits["temporal"]

    def penalty():
      return r1_every * r1_weight * losses.r1_penalty(clip_logit, real)

    if r1_every == 1:
      return penalty()
    return jax.lax.cond(step % r1_every == 0, penalty, lambda: jnp.zeros(()))

  regulariser = r1 if r1_weight > 0 else (lambda *_: jnp.zeros(()))

  def d_objective(d_params, d_stats, real, fake, frame_idx, label, step, aug_rng):
    # D judges T(real) and T(fake) in two passes from the same stats: the first
    # advances the spectral-norm power iteration (once per step) and returns it,
    # the second computes the same normalised weights without storing them. So
    # the logits are those of one pass over [T(real); T(fake)], from two
    # independent chains that XLA:CPU runs on both cores (docs/performance.md).
    b = real.shape[0]
    both = augment.augment(aug_rng, jnp.concatenate([real, fake]), policy)
    real, fake = both[:b], both[b:]
    real_logits, new_stats = gan.discriminate(d_params, d_stats, real, frame_idx, update_stats=True, label=label)
    fake_logits, _ = gan.discriminate(d_params, d_stats, fake, frame_idx, update_stats=False, label=label)
    gan_loss = sum(d_gan_loss(real_logits[h], fake_logits[h]) for h in real_logits)
    penalty = regulariser(d_params, new_stats, real, frame_idx, label, step)
    return gan_loss + penalty, (new_stats, real_logits, fake_logits, penalty)

  def g_objective(fake, real, d_params, d_stats, frame_idx, label, aug_rng):
    seen = augment.augment(aug_rng, fake, policy)  # T(G(z)); G(z) itself without `augment`.
    logits, _ = gan.discriminate(d_params, d_stats, seen, frame_idx, update_stats=False, label=label)
    given = gan.continuing_truth(fake.shape[0])  # Clips that continue the real context come first.
    l1 = jnp.mean(jnp.abs(fake[:given, k:] - real[:given, k:])) if l1_weight else jnp.zeros(())
    return sum(g_gan_loss(logit) for logit in logits.values()) + l1_weight * l1, l1

  def train_step(state: TrainState, batch: Batch, rng: jax.Array) -> tuple[TrainState, Metrics]:
    real = batch["video"]  # [batch, time, height, width, channels] in [-1, 1]
    b = real.shape[0]
    cond = gan.conditioning(batch)  # {} | context: real[:, :k] | label
    label = cond.get("label")
    step_rng = jax.random.fold_in(rng, state.step)
    z_rng, d_frames_rng, g_frames_rng = jax.random.split(step_rng, 3)
    d_aug_rng, g_aug_rng = jax.random.split(jax.random.fold_in(step_rng, 1))  # Used only with `augment`.

    # G(z), and the VJP that maps a gradient w.r.t. the clips to one w.r.t. G's params.
    fake, g_vjp = jax.vjp(lambda g_params: gan.generate(g_params, z_rng, b, rollout=True, **cond), state.g_params)

    # 1. D step: descend L_D in D's parameters; G(z) is a constant here.
    frame_idx = gan.frame_indices(d_frames_rng, b)
    (d_loss, (d_stats, real_logits, fake_logits, penalty)), d_grads = jax.value_and_grad(d_objective, has_aux=True)(
        state.d_params, state.d_stats, real, fake, frame_idx, label, state.step, d_aug_rng
    )
    d_updates, d_opt_state = state.d_tx.update(d_grads, state.d_opt_state, state.d_params)
    d_params = optax.apply_updates(state.d_params, d_updates)

    # 2. G step: descend L_G through the updated D, dL_G/dtheta_G = VJP(dL_G/dG(z)).
    (g_loss, g_l1), g_loss_wrt_fake = jax.value_and_grad(g_objective, has_aux=True)(
        fake, real, d_params, d_stats, gan.frame_indices(g_frames_rng, b), label, g_aug_rng)
    (g_grads,) = g_vjp(g_loss_wrt_fake)
    g_updates, g_opt_state = state.g_tx.update(g_grads, state.g_opt_state, state.g_params)
    g_params = optax.apply_updates(state.g_params, g_updates)

    # 3. EMA of G, the weights used for sampling: ema <- beta ema + (1 - beta) G, beta = ema_decay; with
    #    `ema_rampup` r (StyleGAN2's warm-up) beta = 0.5^(1 / min(h, r s)) after s steps: the half-life
    #    r s grows with training up to ema_decay's, h.
    beta = ema_decay
    if ema_rampup:
      beta = 0.5 ** (1.0 / jnp.maximum(jnp.minimum(half_life, ema_rampup * (state.step + 1)), 1e-8))
    ema_g_params = optax.incremental_update(g_params, state.ema_g_params, 1.0 - beta)

    new_state = state.replace(
        step=state.step + 1, g_params=g_params, d_params=d_params, d_stats=d_stats,
        g_opt_state=g_opt_state, d_opt_state=d_opt_state, ema_g_params=ema_g_params,
    )
    metrics = {
        "d_loss": d_loss,
        "g_loss": g_loss,
        "r1_penalty": penalty,
        "g_l1": g_l1,  # mean |G(z)_t - x_t| over predicted frames (0 unless prediction_l1 > 0)
        # Mean D(x) and D(G(z)) over every head's logits.
        "d_real": jnp.mean(jnp.stack([jax.nn.sigmoid(logit).mean() for logit in real_logits.values()])),
        "d_fake": jnp.mean(jnp.stack([jax.nn.sigmoid(logit).mean() for logit in fake_logits.values()])),
        "d_grad_norm": optax.global_norm(d_grads),
        "g_grad_norm": optax.global_norm(g_grads),
    }
    return new_state, metrics

  return train_step
