"""A trained generator from its workdir alone: the config saved with each checkpoint, and the EMA weights.

  import videogan
  generator = videogan.load_generator("runs/moving_mnist")   # or gs://BUCKET/run
  clips = generator.sample(8)                                # uint8 [8, T, H, W, C]

Every checkpoint step stores the run's config (videogan/checkpoint.py), so
sampling, extending and evaluating need no `--config`: the CLI reads it from
the checkpoint when `--config` is left out.
"""

import dataclasses
from typing import Any

import jax
import ml_collections
import numpy as np

from videogan import checkpoint, config_base, errors, paths
from videogan.gan import sample as sample_lib
from videogan.gan import state as state_lib
from videogan.models.gan import VideoGAN


def config_from_workdir(workdir: paths.PathLike, step: int | None = None) -> ml_collections.ConfigDict:
  """The config saved with the latest (or `step`'s) checkpoint of the GAN run in `workdir`."""
  directory = checkpoint.checkpoint_dir(workdir)
  if not directory.is_dir():
    raise FileNotFoundError(f"No checkpoints in {directory}: train first with --mode train --workdir {workdir}.")
  ckpt = checkpoint.Checkpointer(directory, save_every=1, keep=1_000_000)
  try:
    if ckpt.latest_step() is None:
      raise FileNotFoundError(f"No checkpoints in {directory}: train first with --mode train --workdir {workdir}.")
    saved = ckpt.restore_config(step)
  finally:
    ckpt.close()
  if "generator" not in saved.get("model", {}):
    raise errors.InputError(f"{directory}: holds an enhancer checkpoint, not a GAN's (use --mode enhance with it).")
  # Over today's defaults: keys added since the checkpoint was written (e.g. `augment`) take the value that
  # means what that run did.
  return config_base.over_defaults(config_base.base_config(), saved)


@dataclasses.dataclass(frozen=True)
class Generator:
  """A trained generator: its run's config, the model and the EMA parameters of checkpoint `step`."""

  config: ml_collections.ConfigDict
  gan: VideoGAN
  params: Any
  step: int

  def sample(self, num_clips: int, seed: int = 0) -> np.ndarray:
    """`num_clips` new clips, uint8 [N, T, H, W, C]; prediction models continue real evaluation clips."""
    config = ml_collections.ConfigDict(self.config.to_dict())
    config.sample.num_clips = num_clips
    cond = sample_lib.fixed_conditioning(self.gan, config)
    return sample_lib.sample_clips(self.gan, self.params, jax.random.key(seed), num_clips, conditioning=cond)


def load_generator(workdir: paths.PathLike, step: int | None = None) -> Generator:
  """The EMA generator of the latest (or `step`'s) checkpoint in `workdir`, with the config saved there."""
  config = config_from_workdir(workdir, step)
  gan = VideoGAN.from_config(config)
  state = state_lib.restore_from_workdir(config, workdir, gan, step)
  return Generator(config, gan, state.ema_g_params, int(state.step))
