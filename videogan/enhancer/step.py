"""The enhancer's train step: one pure function, like the GAN's.

It minimises the Charbonnier loss (Lai et al. 2017), a smooth L1:

  L_rec = mean sqrt((f(y) - x)^2 + eps^2)      y degraded window, x clean centre frame

in [0, 1] pixel units, optionally plus w * L_G of a frame discriminator with the
seed's non-saturating losses (L_D = -[log D(x) + log(1 - D(f(y)))],
L_G = -log D(f(y))), D updated first as in the GAN step.
"""

import jax
import jax.numpy as jnp
import ml_collections
import optax

from videogan import losses
from videogan.enhancer.state import EnhancerState, Models
from videogan.models.enhancer import upsample


def reconstruction_loss(output: jax.Array, target: jax.Array, kind: str, eps: float) -> jax.Array:
  """Charbonnier sqrt(e^2 + eps^2) or L1 |e| of e = output - target, in [0, 1] pixel units (inputs in [-1, 1])."""
  err = (output - target) / 2.0
  if kind == "l1":
    return jnp.mean(jnp.abs(err))
  return jnp.mean(jnp.sqrt(jnp.square(err) + eps**2))


def make_train_step(models: Models, config: ml_collections.ConfigDict):
  """`train_step(state, batch, rng) -> (state, metrics)`; batch: "lr" [B, T, h, w, C], "hr" [B, H, W, C] in [-1, 1].

  The step draws no noise; `rng` is taken for the trainer's common signature.
  """
  model, disc = models.model, models.disc
  kind, eps, w = config.loss, config.charbonnier_eps, config.adversarial_weight
  d_gan_loss, g_gan_loss = losses.GAN_LOSSES["non_saturating"]

  def discriminate(d_params, d_stats, frames, update_stats):
    logits, mutated = disc.apply({"params": d_params, "batch_stats": d_stats}, frames, update_stats=update_stats,
                                 mutable=["batch_stats"])
    return logits, mutated["batch_stats"]

  def train_step(state: EnhancerState, batch, rng=None):
    del rng
    degraded, clean = batch["lr"], batch["hr"]
    # f(y), and the VJP from a gradient w.r.t. the output frames to one w.r.t. the params.
    output, vjp = jax.vjp(lambda params: model.apply({"params": params}, degraded), state.params)

    d_params, d_stats, d_opt_state, d_loss = state.d_params, state.d_stats, state.d_opt_state, jnp.zeros(())
    if disc is not None:
      # D step: descend L_D = -[log D(x) + log(1 - D(f(y)))] in D's params (f(y) a constant).
      def d_objective(d_params):
        logits, stats = discriminate(d_params, state.d_stats, jnp.concatenate([clean, output]), True)
        real, fake = jnp.split(logits, 2)
        return d_gan_loss(real, fake), stats

      (d_loss, d_stats), d_grads = jax.value_and_grad(d_objective, has_aux=True)(state.d_params)
      d_updates, d_opt_state = state.d_tx.update(d_grads, state.d_opt_state, state.d_params)
      d_params = optax.apply_updates(state.d_params, d_updates)

    # Enhancer step: descend L_rec (+ w L_G through the updated D) in the enhancer's params.
    def objective(output):
      rec = reconstruction_loss(output, clean, kind, eps)
      adv = g_gan_loss(discriminate(d_params, d_stats, output, False)[0]) if disc is not None else jnp.zeros(())
      return rec + w * adv, (rec, adv)

    (loss, (rec, adv)), loss_wrt_output = jax.value_and_grad(objective, has_aux=True)(output)
    (grads,) = vjp(loss_wrt_output)
    updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)

    # PSNR of the whole batch (patches without degradation make a per-patch PSNR infinite).
    batch_psnr = lambda v: -10.0 * jnp.log10(jnp.mean(jnp.square((jnp.clip(v, -1, 1) - clean) / 2)) + 1e-10)  # noqa: E731
    bicubic = upsample(degraded[:, degraded.shape[1] // 2], model.scale)
    new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state, d_params=d_params,
                              d_stats=d_stats, d_opt_state=d_opt_state)
    return new_state, {
        "loss": loss, "rec_loss": rec, "g_adv_loss": adv, "d_loss": d_loss,
        "psnr": batch_psnr(output), "psnr_bicubic": batch_psnr(bicubic),
        "grad_norm": optax.global_norm(grads),
    }

  return train_step
