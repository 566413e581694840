"""The GAN as a task of the one trainer (videogan/trainer.py): its state, step, data and periodic actions.

  train_and_evaluate(config, workdir)     # --mode train
  compile_only(config)                    # --mode compile: memory and FLOPs, without data
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from videogan import config_validation, parallel, paths, periodic, trainer, video_io
from videogan.data import pipeline, video_source
from videogan.gan import sample as sample_lib
from videogan.gan import state as state_lib
from videogan.gan.train_step import make_train_step
from videogan.models.gan import VideoGAN


class GanTask:
  """G and D trained against each other (videogan/gan/train_step.py) on `config`'s clips."""

  example_name = "clips"

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    self.bad_files = video_source.BadFiles()

  def validate(self, mesh: jax.sharding.Mesh | None) -> None:
    config_validation.validate(self.config, mesh=mesh)

  def check_data(self) -> None:
    pipeline.check_source(self.config)

  @functools.cached_property
  def gan(self) -> VideoGAN:
    return VideoGAN.from_config(self.config)

  @functools.cached_property
  def optimizers(self):
    return state_lib.make_optimizers(self.config)  # (g_tx, d_tx)

  def abstract_state(self, mesh: jax.sharding.Mesh) -> state_lib.TrainState:
    target = state_lib.abstract_state(self.gan, *self.optimizers, mesh, self.config.sharding)
    logging.info("G: %d params, D: %d params.", state_lib.param_count(target.g_params),
                 state_lib.param_count(target.d_params))
    return target

  def init_state(self, rng: jax.Array, shardings) -> state_lib.TrainState:
    return state_lib.create_state(rng, self.gan, *self.optimizers, shardings)

  def train_step(self):
    return make_train_step(self.gan, self.config)

  @property
  def examples_per_step(self) -> int:
    return self.config.batch_size

  def batch_spec(self, sharding) -> dict[str, jax.ShapeDtypeStruct]:
    b = self.config.batch_size
    spec = {"video": jax.ShapeDtypeStruct((b, *self.gan.video_shape), jnp.float32, sharding=sharding)}
    if self.gan.num_classes:
      spec["label"] = jax.ShapeDtypeStruct((b,), jnp.int32, sharding=sharding)
    return spec

  def dataset(self, first_example: int, num_steps: int):
    config = self.config
    keys = ("video", "label") if self.gan.num_classes else ("video",)
    dataset = pipeline.make_dataset(
        config, split="train", seed=config.seed, global_batch=config.batch_size, first_example=first_example,
        num_steps=num_steps, process_index=jax.process_index(), process_count=jax.process_count(),
        bad_files=self.bad_files,
    )
    return ({k: batch[k] for k in keys} for batch in dataset.as_numpy_iterator())

  def progress(self, means: dict[str, float]) -> str:
    return (f"d_loss {means['d_loss']:.3f} g_loss {means['g_loss']:.3f} D(x) {means['d_real']:.2f} "
            f"D(G(z)) {means['d_fake']:.2f}")

  def periodic_actions(self, run: trainer.Run) -> list[periodic.Action]:
    actions = [periodic.Action("samples", self.config.sample_every, self._sample_writer(run))]
    if self.config.fvd.every:
      actions.append(periodic.Action("fvd", self.config.fvd.every, self._fvd_writer(run)))
    return actions

  def _sample_writer(self, run: trainer.Run):
    """Writes samples/step_N.gif|mp4|png (the EMA generator on fixed noise, and fixed real context / labels),
    and the filmstrip to TensorBoard as the image `samples`."""
    config, gan = self.config, self.gan
    _, _, sample_rng = jax.random.split(jax.random.key(config.seed), 3)  # The trainer's third stream.
    sample_fn = sample_lib.make_sample_fn(gan, parallel.replicated(run.mesh))
    cond = sample_lib.fixed_conditioning(gan, config)
    latents = gan.latents(sample_rng, config.sample.num_clips, with_context="context" in cond)

    def write(step: int, state) -> None:
      clips = video_io.to_uint8(jax.device_get(sample_fn(state.ema_g_params, latents, cond)))
      if run.is_main:
        (run.workdir / "samples").mkdir(exist_ok=True)
        sample_lib.write_grid(run.workdir / "samples" / f"step_{step:06d}", clips, config.fps)
      run.writer.write_images(step, {"samples": sample_lib.filmstrip(clips)[None]})

    return write

  def _fvd_writer(self, run: trainer.Run):
    """Logs FVD on `fvd.periodic_clips` clips (noisier than --mode eval) and, on Moving MNIST, their digit score."""
    from videogan.gan import digits, evaluate  # I3D weights are read only when periodic FVD is on.

    config, clips_num = self.config, self.config.fvd.periodic_clips
    fvd_config = config.copy_and_resolve_references()
    fvd_config.fvd.num_real = fvd_config.fvd.num_generated = clips_num
    extractor = evaluate.FeatureExtractor(config.fvd.resize, config.fvd.batch_size)
    real = evaluate.real_statistics(fvd_config, extractor)
    read_digits = digits.load_classifier(config) if digits.applies(config) else None

    def write(step: int, state) -> None:
      clips = np.concatenate(list(evaluate.generated_clips(fvd_config, self.gan, state.ema_g_params, clips_num,
                                                           config.fvd.seed)))
      value = evaluate.frechet_distance(*real, *evaluate.gaussian(extractor(clips)))
      scalars, more = {f"fvd_{clips_num}": value}, ""
      if read_digits is not None:  # Of the frames G made, not a prediction model's given context frames.
        scalars["digit_score"] = digits.score(clips, read_digits, first_frame=0 if self.gan.draws_whole_clips else self.gan.context_frames)["score"]
        more = f", digit score {scalars['digit_score']:.3f}"
      run.writer.write_scalars(step, scalars)
      logging.info("step %d: FVD (%d clips, noisier than --mode eval) %.1f%s", step, clips_num, value, more)

    return write


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: paths.PathLike) -> state_lib.TrainState:
  """Trains the GAN of `config` in `workdir`, resuming from its latest checkpoint."""
  return trainer.train(GanTask(config), workdir)


def compile_only(config: ml_collections.ConfigDict, devices=None) -> dict[str, float]:
  """Builds and compiles the sharded train step without data; returns its cost and memory report."""
  task = GanTask(config)
  return trainer.compile_step(task, trainer.setup(task, devices))[1]
