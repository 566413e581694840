"""The training loop: mesh, data, state, resume, periodic actions, checkpoints."""

import dataclasses
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging
from clu import metric_writers

from videogan import checkpoint, config_validation, parallel, video_io
from videogan import sample as sample_lib
from videogan import state as state_lib
from videogan.data import pipeline, video_source
from videogan.models.gan import VideoGAN
from videogan.train_step import make_train_step


class NonFiniteLossError(FloatingPointError):
  """A training metric became NaN or infinite."""


def check_workdir(workdir: Path, needed_bytes: int = 0) -> None:
  """Fails before training if the workdir cannot be written or has less than `needed_bytes` free."""
  try:
    workdir.mkdir(parents=True, exist_ok=True)
    # A uniquely named probe: every process of a multi-process run checks the same workdir.
    with tempfile.NamedTemporaryFile(dir=workdir, prefix=".write_test_") as probe:
      probe.write(b"ok")
  except OSError as e:
    raise OSError(f"Workdir {workdir} is not writable: {e}") from e
  free = shutil.disk_usage(workdir).free
  if free < needed_bytes:
    raise OSError(f"Workdir {workdir} has {free / 2**20:.1f} MiB free; this run needs about "
                  f"{needed_bytes / 2**20:.1f} MiB (checkpoints, samples, summaries). Free some space or use "
                  "another --workdir.")


def workdir_bytes_needed(target: state_lib.TrainState, keep: int) -> int:
  """Room for `keep` checkpoints plus one being written, and 16 MiB of samples and summaries."""
  state_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(target))
  return (keep + 1) * state_bytes + 16 * 2**20


class StopSignal:
  """Turns SIGTERM (preemption, `kill`, a scheduler's time limit) into a request to save and stop.

  Single-process runs only: with several processes, JAX's distributed runtime
  receives the notice and Orbax's preemption policy saves at a step all agree on.
  """

  def __init__(self):
    self.received: int | None = None
    self._installed = False
    self._previous = None  # What signal.signal returned: a handler, SIG_DFL/SIG_IGN, or None (not set from Python).

  def __enter__(self) -> "StopSignal":
    if jax.process_count() == 1 and threading.current_thread() is threading.main_thread():
      self._previous = signal.signal(signal.SIGTERM, self._handle)
      self._installed = True
    return self

  def _handle(self, signum, frame) -> None:
    del frame
    self.received = signum
    logging.warning("Received %s: saving a checkpoint after this step, then stopping.", signal.Signals(signum).name)

  def __exit__(self, *exc) -> None:
    if self._installed:
      signal.signal(signal.SIGTERM, signal.SIG_DFL if self._previous is None else self._previous)


def check_finite(step: int, metrics: dict[str, np.ndarray], ckpt: checkpoint.Checkpointer) -> None:
  for name, value in metrics.items():
    if not np.isfinite(value):
      raise NonFiniteLossError(
          f"Non-finite {name}={float(value)} at step {step}; training stopped without saving"
          f" this state. Latest good checkpoint: step {ckpt.latest_step()} in {ckpt.directory}."
      )


def _log_compiled(compiled, batch_size: int, num_devices: int) -> dict[str, float]:
  """Logs the step's XLA cost and memory analysis and returns them.

  XLA analyses the partitioned (per-device) program, so its FLOPs are per
  device; the step's total is that times the number of devices.
  """
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  per_device = float(cost.get("flops", 0.0)) / 1e9 if cost else 0.0
  report = {"gflop_per_device_step": per_device, "gflop_per_step": per_device * num_devices}
  if per_device:
    logging.info("Train step: %.1f GFLOP per device, %.1f GFLOP per step on %d device(s), %.2f GFLOP per clip "
                 "(XLA estimate).", per_device, per_device * num_devices, num_devices,
                 per_device * num_devices / batch_size)
  memory = compiled.memory_analysis()
  if memory is not None:
    report.update(
        argument_mib=memory.argument_size_in_bytes / 2**20,
        output_mib=memory.output_size_in_bytes / 2**20,
        temp_mib=memory.temp_size_in_bytes / 2**20,
    )
    logging.info("Train step memory per device: arguments %.1f MiB, outputs %.1f MiB, temporaries %.1f MiB.",
                 report["argument_mib"], report["output_mib"], report["temp_mib"])
  return report


@dataclasses.dataclass(frozen=True)
class Setup:
  """What training and compiling need, before any array is allocated."""

  mesh: jax.sharding.Mesh
  gan: VideoGAN
  g_tx: optax.GradientTransformation
  d_tx: optax.GradientTransformation
  target: state_lib.TrainState  # Abstract: shapes, dtypes and shardings.
  batch_sharding: jax.sharding.NamedSharding

  @property
  def state_sharding(self):
    return jax.tree.map(lambda s: s.sharding, self.target)


def setup(config: ml_collections.ConfigDict, devices=None) -> Setup:
  """Validates `config` against the devices (default: all) and builds the models and abstract state."""
  config_validation.validate(config)
  try:
    mesh = parallel.make_mesh(config.mesh, devices)
  except ValueError as e:
    raise config_validation.ConfigError(str(e)) from e
  config_validation.validate(config, mesh=mesh)
  logging.info("Mesh %s over %d devices (%s), %d process(es).",
               dict(mesh.shape), mesh.size, jax.devices()[0].platform, jax.process_count())
  gan = VideoGAN.from_config(config)
  g_tx, d_tx = state_lib.make_optimizers(config)
  try:
    target = state_lib.abstract_state(gan, g_tx, d_tx, mesh, config.sharding)
  except ValueError as e:
    raise config_validation.ConfigError(f"config.sharding.rules: {e}") from e
  logging.info("G: %d params, D: %d params. %s", state_lib.param_count(target.g_params),
               state_lib.param_count(target.d_params), parallel.describe_shardings(target))
  return Setup(mesh, gan, g_tx, d_tx, target, parallel.batch_sharding(mesh))


def compile_train_step(s: Setup, config: ml_collections.ConfigDict):
  """The train step compiled ahead of time for the abstract state; returns it and its cost report."""
  replicated = parallel.replicated(s.mesh)
  train_step = jax.jit(
      make_train_step(s.gan, config),
      in_shardings=(s.state_sharding, s.batch_sharding, replicated),
      out_shardings=(s.state_sharding, replicated),
      donate_argnums=0,
  )
  batch = {"video": jax.ShapeDtypeStruct((config.batch_size, *s.gan.video_shape), jnp.float32, sharding=s.batch_sharding)}
  if s.gan.num_classes:
    batch["label"] = jax.ShapeDtypeStruct((config.batch_size,), jnp.int32, sharding=s.batch_sharding)
  rng = jax.ShapeDtypeStruct((), jax.random.key(0).dtype, sharding=replicated)
  t0 = time.perf_counter()
  compiled = train_step.lower(s.target, batch, rng).compile()
  logging.info("Compiled the train step in %.1f s.", time.perf_counter() - t0)
  return compiled, _log_compiled(compiled, config.batch_size, s.mesh.size)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> state_lib.TrainState:
  """Trains the GAN of `config` in `workdir`, resuming from its latest checkpoint."""
  workdir = Path(workdir)
  s = setup(config)
  pipeline.check_source(config)
  check_workdir(workdir, workdir_bytes_needed(s.target, config.keep_checkpoints))
  is_main = jax.process_index() == 0
  init_rng, step_rng, sample_rng = jax.random.split(jax.random.key(config.seed), 3)

  # State: materialised directly in its sharding, either by restoring the
  # latest checkpoint or by the jitted init.
  ckpt = checkpoint.Checkpointer(
      checkpoint.checkpoint_dir(workdir), save_every=config.checkpoint_every, keep=config.keep_checkpoints
  )
  if ckpt.latest_step() is not None:
    state, data_position = ckpt.restore(s.target)
    logging.info("Resumed from step %d in %s.", int(state.step), ckpt.directory)
  else:
    state = state_lib.create_state(init_rng, s.gan, s.g_tx, s.d_tx, s.state_sharding)
    data_position = {"next_example": 0}
  start_step = int(state.step)
  if start_step >= config.total_steps:
    logging.info("Nothing to do: the checkpoint is at step %d >= total_steps=%d.", start_step, config.total_steps)
    ckpt.close()
    return state

  # Data: this process's slice of each global batch, from the saved position on.
  batch_size = config.batch_size
  bad_files = video_source.BadFiles()
  dataset = pipeline.make_dataset(
      config, split="train", seed=config.seed, global_batch=batch_size,
      first_example=data_position["next_example"], num_steps=config.total_steps - start_step,
      process_index=jax.process_index(), process_count=jax.process_count(), bad_files=bad_files,
  )
  batches = iter(dataset.as_numpy_iterator())
  input_keys = ("video", "label") if s.gan.num_classes else ("video",)

  def model_inputs(batch: dict) -> dict:
    return {k: batch[k] for k in input_keys}

  # Compiled before step 1, so the cost and memory are known up front.
  compiled, cost = compile_train_step(s, config)
  flops = cost["gflop_per_step"] * 1e9

  # TensorBoard scalars from process 0 only; the progress line below is the log.
  writer = metric_writers.AsyncWriter(metric_writers.SummaryWriter(str(workdir)) if is_main else metric_writers.MultiWriter([]))
  if start_step == 0:
    writer.write_hparams({k: v for k, v in config.to_dict().items() if isinstance(v, (int, float, str, bool))})
    if is_main:
      (workdir / "config.json").write_text(config.to_json_best_effort(indent=2))
  sample_fn = sample_lib.make_sample_fn(s.gan, parallel.replicated(s.mesh))
  fixed_latents = s.gan.latents(sample_rng, config.sample.num_clips)
  fixed_cond = sample_lib.fixed_conditioning(s.gan, config)  # Real context clips / labels, if conditional.

  def save(force: bool = False) -> None:
    step = int(state.step)
    position = {"next_example": data_position["next_example"] + (step - start_step) * batch_size, "global_batch": batch_size}
    if ckpt.save(state, position, config, force=force):
      logging.info("Saving checkpoint at step %d.", step)

  def write_samples(step: int) -> None:
    clips = video_io.to_uint8(jax.device_get(sample_fn(state.ema_g_params, fixed_latents, fixed_cond)))
    if is_main:
      out = workdir / "samples"
      out.mkdir(exist_ok=True)
      sample_lib.write_grid(out / f"step_{step:06d}", clips, config.fps)

  fvd_every = config.fvd.every
  if fvd_every:
    from videogan import digits, evaluate  # I3D weights are read only when periodic FVD is on.

    fvd_config = config.copy_and_resolve_references()
    fvd_config.fvd.num_real = fvd_config.fvd.num_generated = config.fvd.periodic_clips
    extractor = evaluate.FeatureExtractor(config.fvd.resize, config.fvd.batch_size)
    fvd_real = evaluate.real_statistics(fvd_config, extractor)
    read_digits = digits.load_classifier(config) if digits.applies(config) else None  # Moving MNIST.

  def write_fvd(step: int) -> None:
    clips = np.concatenate(list(evaluate.generated_clips(fvd_config, s.gan, state.ema_g_params,
                                                         config.fvd.periodic_clips, config.fvd.seed)))
    value = evaluate.frechet_distance(*fvd_real, *evaluate.gaussian(extractor(clips)))
    scalars, more = {f"fvd_{config.fvd.periodic_clips}": value}, ""
    if read_digits is not None:  # The same clips' digit score (videogan/digits.py), much cheaper than FVD,
      # of the frames G made (not the given context frames of a prediction model).
      scalars["digit_score"] = digits.score(clips, read_digits, first_frame=s.gan.context_frames)["score"]
      more = f", digit score {scalars['digit_score']:.3f}"
    writer.write_scalars(step, scalars)
    logging.info("step %d: FVD (%d clips, noisier than --mode eval) %.1f%s", step, config.fvd.periodic_clips, value,
                 more)

  window, window_start = [], time.perf_counter()

  def record(step: int, metrics) -> None:
    metrics = jax.device_get(metrics)
    check_finite(step, metrics, ckpt)
    window.append(metrics)

  with StopSignal() as stop:  # SIGTERM: save a checkpoint at the current step and stop.
    try:
      pending = None  # The previous step's metrics, fetched one step late to keep the device busy.
      for step in range(start_step + 1, config.total_steps + 1):
        batch = parallel.global_batch(model_inputs(next(batches)), s.batch_sharding)
        state, metrics = compiled(state, batch, step_rng)
        if pending is not None:
          record(*pending)
        pending = (step, metrics)

        is_last = step == config.total_steps
        stopping = stop.received is not None
        saving = is_last or stopping or ckpt.should_save(step)
        logging_now = is_last or stopping or step % config.log_every == 0
        sampling = is_last or step % config.sample_every == 0
        if not (saving or logging_now or sampling or (fvd_every and step % fvd_every == 0)):
          continue
        record(*pending)  # Nothing is logged or saved before its metrics are checked.
        pending = None

        if logging_now:
          steps_per_sec = len(window) / (time.perf_counter() - window_start)
          means = {k: float(np.mean([m[k] for m in window])) for k in window[0]}
          means.update(steps_per_sec=steps_per_sec, clips_per_sec=steps_per_sec * batch_size)
          if flops:
            means["gflops_per_sec"] = flops / 1e9 * steps_per_sec
          writer.write_scalars(step, means)
          eta = time.strftime("%H:%M:%S", time.gmtime((config.total_steps - step) / steps_per_sec))
          logging.info(
              "step %d/%d | %.2f steps/s | %.1f clips/s | ETA %s | d_loss %.3f g_loss %.3f D(x) %.2f D(G(z)) %.2f",
              step, config.total_steps, steps_per_sec, means["clips_per_sec"], eta,
              means["d_loss"], means["g_loss"], means["d_real"], means["d_fake"],
          )
          window = []
          bad_files.log_new(logging)  # Videos skipped as unreadable since the last line, with paths.
        if sampling:
          write_samples(step)
        if fvd_every and (is_last or step % fvd_every == 0):
          write_fvd(step)
        if saving:
          save(force=is_last or stopping)
        if logging_now:  # Throughput counts training steps, not the actions above.
          window_start = time.perf_counter()
        if stopping:
          ckpt.wait()
          logging.warning("Stopped by %s at step %d; the checkpoint is saved in %s. Run the same command to resume.",
                          signal.Signals(stop.received).name, step, ckpt.directory)
          break
    finally:
      # Let an in-flight checkpoint land even when training stops on an error.
      ckpt.wait()
      ckpt.close()
      # Flushes and closes. Only flushed, the writer held up the process's exit: 31 s after
      # SIGTERM at step ~150 of the default config, against 2.7 s closed.
      writer.close()
  return state
