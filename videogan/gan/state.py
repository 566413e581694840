"""The training state: one pytree holding everything a resumed run needs."""

from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax

from videogan import checkpoint, parallel, paths
from videogan.models.gan import VideoGAN

PyTree = Any


@flax.struct.dataclass
class TrainState:
  """G and D parameters, their optimizer states, the EMA of G, and the step.

  `d_stats` holds D's spectral-norm power-iteration vectors (the
  "batch_stats" collection); it is empty when spectral norm is off.
  The optax transforms are static: they are code, not data.
  """

  step: jax.Array
  g_params: PyTree
  d_params: PyTree
  d_stats: PyTree
  g_opt_state: optax.OptState
  d_opt_state: optax.OptState
  ema_g_params: PyTree
  g_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
  d_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)




def make_optimizers(config: ml_collections.ConfigDict) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
  """Adam for G and for D (two-time-scale learning rates are allowed).

  With `optimizer.decay="linear"` each learning rate is lr_t = lr for
  t < t_0 = decay_begin, then lr (T - t) / (T - t_0), 0 at T = total_steps.
  """
  opt = config.optimizer

  def learning_rate(peak: float) -> optax.ScalarOrSchedule:
    if opt.decay == "none":
      return peak  # A constant: the optimizer state has no step count.
    return optax.linear_schedule(peak, 0.0, config.total_steps - opt.decay_begin, transition_begin=opt.decay_begin)

  g_tx = optax.adam(learning_rate(opt.g_learning_rate), b1=opt.b1, b2=opt.b2, eps=opt.eps)
  d_tx = optax.adam(learning_rate(opt.d_learning_rate), b1=opt.b1, b2=opt.b2, eps=opt.eps)
  return g_tx, d_tx


def init_state(rng: jax.Array, gan: VideoGAN, g_tx: optax.GradientTransformation, d_tx: optax.GradientTransformation) -> TrainState:
  """A fresh state; pure, so it can be `eval_shape`d and jitted with out_shardings."""
  g_rng, d_rng, data_rng = jax.random.split(rng, 3)
  video = jnp.zeros((1, *gan.video_shape))
  label = jnp.zeros((1,), jnp.int32)
  g_params = gan.generator.init(g_rng, **gan.latents(data_rng, 1), **gan.conditioning({"video": video, "label": label}))["params"]
  d_vars = gan.discriminator.init(d_rng, video, jnp.zeros((1, gan.spatial_frames), jnp.int32), label=label)
  return TrainState(
      step=jnp.zeros((), jnp.int32),
      g_params=g_params,
      d_params=d_vars["params"],
      d_stats=d_vars.get("batch_stats", {}),
      g_opt_state=g_tx.init(g_params),
      d_opt_state=d_tx.init(d_vars["params"]),
      ema_g_params=g_params,
      g_tx=g_tx,
      d_tx=d_tx,
  )


def create_state(rng: jax.Array, gan: VideoGAN, g_tx: optax.GradientTransformation, d_tx: optax.GradientTransformation,
                 sharding: PyTree | None = None) -> TrainState:
  """`init_state(rng, ...)`, materialised directly in `sharding` (see `parallel.run_once`)."""
  return parallel.run_once(lambda r: init_state(r, gan, g_tx, d_tx), rng, out_shardings=sharding)


def param_count(tree: PyTree) -> int:
  return sum(x.size for x in jax.tree.leaves(tree))


def abstract_state(gan: VideoGAN, g_tx, d_tx, mesh: jax.sharding.Mesh, sharding_config: ml_collections.ConfigDict) -> TrainState:
  """The state's shapes, dtypes and shardings (by `config.sharding` rules), without allocating it."""
  shapes = jax.eval_shape(lambda rng: init_state(rng, gan, g_tx, d_tx), jax.random.key(0))
  shardings = parallel.state_shardings(shapes, mesh, sharding_config)
  return jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh), shapes, shardings)


def restore_from_workdir(config: ml_collections.ConfigDict, workdir: paths.PathLike, gan: VideoGAN,
                         step: int | None = None) -> TrainState:
  """The train state saved in `workdir` (latest step by default), sharded by `config.mesh` and `config.sharding`."""
  directory = checkpoint.checkpoint_dir(workdir)
  if not directory.is_dir():
    raise FileNotFoundError(f"No checkpoints in {directory}: train first with --mode train --workdir {workdir}.")
  mesh = parallel.make_mesh(config.mesh)
  g_tx, d_tx = make_optimizers(config)
  target = abstract_state(gan, g_tx, d_tx, mesh, config.sharding)
  ckpt = checkpoint.Checkpointer(directory, save_every=config.checkpoint_every, keep=config.keep_checkpoints)
  try:
    return ckpt.restore(target, step)[0]
  finally:
    ckpt.close()
