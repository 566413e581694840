"""The enhancer as a task of the one trainer (videogan/trainer.py): state, step, data and its evaluation."""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import tensorflow as tf
from absl import logging

from videogan import config_validation, parallel, paths, periodic, trainer
from videogan.data import degrade, pipeline, video_source
from videogan.enhancer import evaluate, infer
from videogan.enhancer.state import EnhancerState, Models
from videogan.enhancer.step import make_train_step


class EnhancerTask:
  """An enhancer trained on (degraded, clean) patches cut from `config`'s videos."""

  example_name = "clips"  # Each gives `patches_per_clip` patches.

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    self.bad_files = video_source.BadFiles()

  def validate(self, mesh: jax.sharding.Mesh | None) -> None:
    config_validation.validate_enhancer(self.config, mesh)

  def check_data(self) -> None:
    pipeline.check_source(self.config)
    pipeline.check_source(self.config, "test")  # The periodic evaluation reads the test videos.

  @functools.cached_property
  def models(self) -> Models:
    return Models.from_config(self.config)

  def abstract_state(self, mesh: jax.sharding.Mesh) -> EnhancerState:
    target = self.models.abstract_state(self.config, mesh)
    logging.info("Enhancer x%d: %d params; %d-frame windows.", self.config.model.scale,
                 sum(x.size for x in jax.tree.leaves(target.params)), self.config.model.window)
    return target

  def init_state(self, rng: jax.Array, shardings) -> EnhancerState:
    del rng  # The enhancer is initialised from the seed's own key, as its published runs were.
    return parallel.run_once(lambda r: self.models.init(r, self.config), jax.random.key(self.config.seed),
                             out_shardings=shardings)

  def train_step(self):
    return make_train_step(self.models, self.config)

  @property
  def examples_per_step(self) -> int:
    return self.config.batch_size // self.config.patches_per_clip

  def batch_spec(self, sharding) -> dict[str, jax.ShapeDtypeStruct]:
    c, b, p, s = self.config, self.config.batch_size, self.config.patch_size, self.config.model.scale
    return {"lr": jax.ShapeDtypeStruct((b, c.model.window, p, p, c.data.channels), jnp.float32, sharding=sharding),
            "hr": jax.ShapeDtypeStruct((b, p * s, p * s, c.data.channels), jnp.float32, sharding=sharding)}

  def dataset(self, first_example: int, num_steps: int):
    """This process's (degraded, clean) patches: `examples_per_step / processes` clips' worth per step."""
    config = self.config
    ds = pipeline.make_dataset(
        config, split="train", seed=config.seed, global_batch=self.examples_per_step, first_example=first_example,
        num_steps=num_steps, process_index=jax.process_index(), process_count=jax.process_count(),
        bad_files=self.bad_files, transform=degrade.make_pair_fn(config, config.seed),
    )
    # [clips, patches, ...] -> [clips * patches, ...]
    return ds.map(lambda b: {k: tf.reshape(b[k], [-1, *b[k].shape[2:]]) for k in ("lr", "hr")}).as_numpy_iterator()

  def progress(self, means: dict[str, float]) -> str:
    return f"loss {means['loss']:.4f} | batch PSNR {means['psnr']:.2f} dB (bicubic/input {means['psnr_bicubic']:.2f})"

  def periodic_actions(self, run: trainer.Run) -> list[periodic.Action]:
    config = self.config
    apply = infer.make_apply_fn(self.models.model, run.mesh)
    pairs = evaluate.evaluation_pairs(config, config.eval.num_frames)  # Decoded and degraded once for the run.

    def run_eval(step: int, state: EnhancerState) -> None:
      report = evaluate.evaluate(config, lambda w: apply(state.params, w), pairs,
                                 image_dir=run.workdir / "eval" / f"step_{step:06d}" if run.is_main else None)
      run.writer.write_scalars(step, {f"eval/{k}": v for k, v in report.items() if isinstance(v, float)})
      base = report["baseline"]
      logging.info("eval step %d: PSNR-RGB %.2f dB (%s %.2f, %+.2f) | SSIM-Y %.4f (%s %.4f) | flicker %.4f",
                   step, report["model_psnr_rgb"], base, report[f"{base}_psnr_rgb"], report["gain_psnr_rgb"],
                   report["model_ssim_y"], base, report[f"{base}_ssim_y"], report["model_flicker"])

    return [periodic.Action("eval", config.eval_every, run_eval)]


def train(config: ml_collections.ConfigDict, workdir: paths.PathLike) -> EnhancerState:
  """Trains the enhancer of `config` in `workdir`, resuming from its latest checkpoint."""
  return trainer.train(EnhancerTask(config), workdir)
