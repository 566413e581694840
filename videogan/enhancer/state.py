"""The enhancer's models, optimizers and train state."""

import dataclasses

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax

from videogan import parallel
from videogan.models.enhancer import Enhancer, FrameDiscriminator

PyTree = object


@flax.struct.dataclass
class EnhancerState:
  """Enhancer params and optimizer state; the discriminator's when `adversarial_weight > 0` (else empty)."""

  step: jax.Array
  params: PyTree
  opt_state: optax.OptState
  d_params: PyTree
  d_stats: PyTree  # Spectral-norm power-iteration vectors.
  d_opt_state: optax.OptState
  tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
  d_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)


@dataclasses.dataclass(frozen=True)
class Models:
  model: Enhancer
  disc: FrameDiscriminator | None
  tx: optax.GradientTransformation
  d_tx: optax.GradientTransformation

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict) -> "Models":
    m = config.model
    model = Enhancer(scale=m.scale, features=m.features, num_blocks=m.num_blocks)
    disc = None
    if config.adversarial_weight > 0:
      disc = FrameDiscriminator(tuple(config.discriminator.widths), config.discriminator.spectral_norm)
    opt = config.optimizer
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, opt.learning_rate, opt.warmup_steps, config.total_steps, end_value=opt.learning_rate / 100)
    tx = optax.adam(schedule, b1=opt.b1, b2=opt.b2)
    d_tx = optax.adam(opt.d_learning_rate, b1=0.5, b2=0.999)
    return cls(model, disc, tx, d_tx)

  def init(self, rng: jax.Array, config: ml_collections.ConfigDict) -> EnhancerState:
    """A fresh state; pure, so it can be `eval_shape`d and jitted with out_shardings."""
    p = config.patch_size
    c = config.data.channels
    params = self.model.init(rng, jnp.zeros((1, config.model.window, p, p, c)))["params"]
    d_params, d_stats = {}, {}
    if self.disc is not None:
      hr = p * config.model.scale
      d_vars = self.disc.init(jax.random.fold_in(rng, 1), jnp.zeros((1, hr, hr, c)))
      d_params, d_stats = d_vars["params"], d_vars.get("batch_stats", {})
    return EnhancerState(
        step=jnp.zeros((), jnp.int32), params=params, opt_state=self.tx.init(params),
        d_params=d_params, d_stats=d_stats, d_opt_state=self.d_tx.init(d_params), tx=self.tx, d_tx=self.d_tx,
    )

  def abstract_state(self, config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh) -> EnhancerState:
    """The state's shapes and dtypes, replicated over `mesh` (the enhancer is small; the batch is what is split)."""
    replicated = parallel.replicated(mesh)
    shapes = jax.eval_shape(lambda rng: self.init(rng, config), jax.random.key(0))
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=replicated), shapes)
