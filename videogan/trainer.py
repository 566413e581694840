"""The one training loop, for every task (the GAN, the enhancer).

  validate -> mesh -> workdir -> restore or init -> AOT compile -> loop -> finally

A task (`Task` below; `videogan/gan/task.py`, `videogan/enhancer/task.py`)
says what is trained: its config checks, its state, its pure train step, its
data and its periodic actions. Everything a long run needs is here, once:
SIGTERM saves and stops, every step's metrics are checked for NaN/inf before
anything is logged or saved, the data position is saved with the state so a
resumed run sees the same batches, and the last checkpoint lands before exit.
"""

import dataclasses
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import jax
import ml_collections
import numpy as np
from absl import logging
from clu import metric_writers
from etils import epath

from videogan import checkpoint, errors, parallel, paths, periodic
from videogan.data import video_source

PyTree = Any


class Task(Protocol):
  """What a model family gives the trainer."""

  config: ml_collections.ConfigDict
  example_name: str  # What one unit of `examples_per_step` is, for the log ("clips", "patches").
  bad_files: video_source.BadFiles  # Videos the dataset skipped as unreadable, logged with the progress.

  def validate(self, mesh: jax.sharding.Mesh | None) -> None:
    """Raises `ConfigError` naming the first bad key; with `mesh`, also the batch split over it."""

  def check_data(self) -> None:
    """Raises `ConfigError` if the training data cannot be read (before anything compiles)."""

  def abstract_state(self, mesh: jax.sharding.Mesh) -> PyTree:
    """The state's `jax.ShapeDtypeStruct` leaves, each with its sharding."""

  def init_state(self, rng: jax.Array, shardings: PyTree) -> PyTree:
    """A fresh state, materialised directly in `shardings`."""

  def train_step(self) -> Callable[[PyTree, dict, jax.Array], tuple[PyTree, dict]]:
    """The pure `train_step(state, batch, rng) -> (state, metrics)`."""

  def batch_spec(self, sharding: jax.sharding.Sharding) -> dict[str, jax.ShapeDtypeStruct]:
    """The global batch the step takes, for compiling ahead of time."""

  @property
  def examples_per_step(self) -> int:
    """How far the data stream advances per step (its position is saved with each checkpoint)."""

  def dataset(self, first_example: int, num_steps: int) -> Iterator[dict[str, np.ndarray]]:
    """This process's part of each batch, from example `first_example` on."""

  def periodic_actions(self, run: "Run") -> list[periodic.Action]:
    """Sample writers, evaluations, ...; run on process 0's and every process's behalf as they need."""

  def progress(self, means: dict[str, float]) -> str:
    """The task's part of the progress line, from the window's mean metrics."""


@dataclasses.dataclass
class Run:
  """What periodic actions may use: where to write, the mesh, the scalar writer."""

  workdir: epath.Path
  mesh: jax.sharding.Mesh
  writer: metric_writers.MetricWriter
  is_main: bool  # Process 0: the one that writes files and summaries.


@dataclasses.dataclass(frozen=True)
class Setup:
  """What training and compiling need, before any array is allocated."""

  mesh: jax.sharding.Mesh
  target: PyTree  # Abstract: shapes, dtypes and shardings.
  batch_sharding: jax.sharding.NamedSharding

  @property
  def state_sharding(self) -> PyTree:
    return jax.tree.map(lambda s: s.sharding, self.target)


def setup(task: Task, devices=None) -> Setup:
  """Validates the task's config against the devices (default: all) and builds its abstract state."""
  task.validate(None)
  try:
    mesh = parallel.make_mesh(task.config.mesh, devices)
  except ValueError as e:
    raise errors.ConfigError(str(e)) from e
  task.validate(mesh)
  logging.info("Mesh %s over %d devices (%s), %d process(es).",
               dict(mesh.shape), mesh.size, jax.devices()[0].platform, jax.process_count())
  try:
    target = task.abstract_state(mesh)
  except ValueError as e:
    raise errors.ConfigError(f"config.sharding.rules: {e}") from e
  logging.info("%s", parallel.describe_shardings(target))  # "State: N MiB per device of M MiB ..."
  return Setup(mesh, target, parallel.batch_sharding(mesh))


def compile_step(task: Task, s: Setup):
  """The train step compiled ahead of time for the abstract state; returns it and its cost report."""
  replicated = parallel.replicated(s.mesh)
  step = jax.jit(task.train_step(), in_shardings=(s.state_sharding, s.batch_sharding, replicated),
                 out_shardings=(s.state_sharding, replicated), donate_argnums=0)
  rng = jax.ShapeDtypeStruct((), jax.random.key(0).dtype, sharding=replicated)
  t0 = time.perf_counter()
  compiled = step.lower(s.target, task.batch_spec(s.batch_sharding), rng).compile()
  logging.info("Compiled the train step in %.1f s.", time.perf_counter() - t0)
  return compiled, _cost_report(compiled, task.examples_per_step, s.mesh.size)


def _cost_report(compiled, examples: int, num_devices: int) -> dict[str, float]:
  """The step's XLA cost and memory analysis, logged and returned.

  XLA analyses the partitioned (per-device) program, so its FLOPs are per
  device; the step's total is that times the number of devices.
  """
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  per_device = float(cost.get("flops", 0.0)) / 1e9 if cost else 0.0
  report = {"gflop_per_device_step": per_device, "gflop_per_step": per_device * num_devices}
  if per_device:
    logging.info("Train step: %.1f GFLOP per device, %.1f GFLOP per step on %d device(s), %.2f GFLOP per example "
                 "(XLA estimate).", per_device, per_device * num_devices, num_devices,
                 per_device * num_devices / examples)
  memory = compiled.memory_analysis()
  if memory is not None:
    report.update(argument_mib=memory.argument_size_in_bytes / 2**20, output_mib=memory.output_size_in_bytes / 2**20,
                  temp_mib=memory.temp_size_in_bytes / 2**20)
    logging.info("Train step memory per device: arguments %.1f MiB, outputs %.1f MiB, temporaries %.1f MiB.",
                 report["argument_mib"], report["output_mib"], report["temp_mib"])
  return report


def check_workdir(workdir: epath.Path, needed_bytes: int = 0) -> None:
  """Fails before training if the workdir cannot be written or has less than `needed_bytes` free.

  Free space is checked on local disks only: a gs:// bucket has no fixed size.
  """
  # A uniquely named probe: every process of a multi-process run checks the same workdir.
  probe = workdir / f".write_test_{uuid.uuid4().hex}"
  try:
    workdir.mkdir(parents=True, exist_ok=True)
    probe.write_bytes(b"ok")
    probe.unlink()
  except Exception as e:  # noqa: BLE001 - OSError locally; TensorFlow's errors (permission, no bucket) for gs://.
    raise OSError(f"Workdir {workdir} is not writable: {type(e).__name__}: {e}") from e
  if not paths.is_local(workdir):
    logging.info("Workdir %s is not on a local disk: free space not checked.", workdir)
    return
  free = shutil.disk_usage(workdir).free
  if free < needed_bytes:
    raise OSError(f"Workdir {workdir} has {free / 2**20:.1f} MiB free; this run needs about "
                  f"{needed_bytes / 2**20:.1f} MiB (checkpoints, samples, summaries). Free some space or use "
                  "another --workdir.")


def workdir_bytes_needed(target: PyTree, keep: int) -> int:
  """Room for `keep` checkpoints plus one being written, and 16 MiB of samples and summaries."""
  state_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(target))
  return (keep + 1) * state_bytes + 16 * 2**20


class StopSignal:
  """Turns SIGTERM (preemption, `kill`, a scheduler's time limit) into a request to save and stop.

  Single-process runs only: with several processes, JAX's distributed runtime
  receives the notice, every process saves at the step they agree on
  (`Checkpointer.reached_preemption`) and stops there.
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


def hparams(config: ml_collections.ConfigDict) -> dict[str, int | float | str | bool]:
  """The whole config as TensorBoard hparams: nested keys joined by '.', tuples and None as text."""
  flat = {}

  def visit(prefix: str, value) -> None:
    if isinstance(value, dict):
      for key, item in value.items():
        visit(f"{prefix}{key}.", item)
    else:
      flat[prefix[:-1]] = value if isinstance(value, (int, float, str, bool)) else str(value)

  visit("", config.to_dict())
  return flat


def check_finite(step: int, metrics: dict[str, np.ndarray], ckpt: checkpoint.Checkpointer) -> None:
  for name, value in metrics.items():
    if not np.isfinite(value):
      raise errors.NonFiniteLossError(
          f"Non-finite {name}={float(value)} at step {step}; training stopped without saving"
          f" this state. Latest good checkpoint: step {ckpt.latest_step()} in {ckpt.directory}."
      )


def train(task: Task, workdir: paths.PathLike) -> PyTree:
  """Trains `task` in `workdir` (a local path or gs:// URL), resuming from its latest checkpoint.

  Returns the final state.
  """
  config, workdir = task.config, paths.resolve(workdir)
  s = setup(task)
  task.check_data()
  check_workdir(workdir, workdir_bytes_needed(s.target, config.keep_checkpoints))
  is_main = jax.process_index() == 0
  # The run's random streams: init, the train step's (folded with the step), and sampling.
  init_rng, step_rng, _ = jax.random.split(jax.random.key(config.seed), 3)

  # State: materialised directly in its sharding, by restoring the latest checkpoint or by the jitted init.
  ckpt = checkpoint.Checkpointer(checkpoint.checkpoint_dir(workdir), save_every=config.checkpoint_every,
                                 keep=config.keep_checkpoints)
  if ckpt.latest_step() is not None:
    state, data_position = ckpt.restore(s.target)
    logging.info("Resumed from step %d in %s.", int(state.step), ckpt.directory)
  else:
    state, data_position = task.init_state(init_rng, s.state_sharding), {"next_example": 0}
  start_step = int(state.step)
  if start_step >= config.total_steps:
    logging.info("Nothing to do: the checkpoint is at step %d >= total_steps=%d.", start_step, config.total_steps)
    ckpt.close()
    return state
  first_example, per_step = data_position["next_example"], task.examples_per_step

  compiled, cost = compile_step(task, s)  # Before step 1, so the cost and memory are known up front.
  flops = cost["gflop_per_step"] * 1e9

  # TensorBoard scalars from process 0 only; the progress line below is the log.
  writer = metric_writers.AsyncWriter(
      metric_writers.SummaryWriter(str(workdir)) if is_main else metric_writers.MultiWriter([]))
  if start_step == 0:
    writer.write_hparams(hparams(config))
    if is_main:
      paths.write_text_atomically(workdir / "config.json", config.to_json_best_effort(indent=2))
  actions = task.periodic_actions(Run(workdir, s.mesh, writer, is_main))
  progress = periodic.Progress(config.total_steps, per_step, task.example_name, flops)

  def save(step: int, force: bool) -> None:
    position = {"next_example": first_example + (step - start_step) * per_step, "global_batch": per_step}
    if ckpt.save(state, position, config, force=force):
      logging.info("Saving checkpoint at step %d.", step)

  def record(step: int, metrics) -> None:
    metrics = jax.device_get(metrics)
    check_finite(step, metrics, ckpt)
    progress.add(metrics)

  # Opened last, just before the try whose `finally` drops it (see there).
  batches = task.dataset(first_example, config.total_steps - start_step)
  with StopSignal() as stop:  # SIGTERM: save a checkpoint at the current step and stop.
    try:
      pending = None  # The previous step's metrics, fetched one step late to keep the device busy.
      for step in range(start_step + 1, config.total_steps + 1):
        batch = parallel.global_batch(next(batches), s.batch_sharding)
        state, metrics = compiled(state, batch, step_rng)
        if pending is not None:
          record(*pending)
        pending = (step, metrics)

        preempted = jax.process_count() > 1 and ckpt.reached_preemption(step)
        is_last, stopping = step == config.total_steps, stop.received is not None or preempted
        saving = is_last or stopping or ckpt.should_save(step)
        logging_now = is_last or stopping or step % config.log_every == 0
        due = [a for a in actions if a.due(step, is_last)]
        if not (saving or logging_now or due):
          continue
        record(*pending)  # Nothing is logged, saved or sampled before its metrics are checked.
        pending = None

        if logging_now:
          means = progress.flush(step, writer)
          logging.info("%s | %s", progress.line(step, means), task.progress(means))
          task.bad_files.log_new(logging)  # Videos skipped as unreadable since the last line, with paths.
        for action in due:
          action.run(step, state)
        if saving:
          save(step, force=is_last or stopping)
        if logging_now:  # Throughput counts training steps, not the actions above.
          progress.restart_clock()
        if stopping:
          ckpt.wait()
          cause = "a preemption notice (SIGTERM to a process)" if preempted else signal.Signals(stop.received).name
          logging.warning("Stopped by %s at step %d; the checkpoint is saved in %s. Run the same command to resume.",
                          cause, step, ckpt.directory)
          break
    finally:
      # Drop the data iterator here, not at the interpreter's exit: when an error leaves tf.data's
      # workers mid-clip (video decoding is Python, via tf.numpy_function), its destructor waits for
      # them, and at exit they can never take the GIL again (the process hung).
      batches = None  # noqa: F841
      ckpt.wait()  # Let an in-flight checkpoint land even when training stops on an error.
      ckpt.close()
      # Flushes and closes. Only flushed, the writer held up the process's exit: 31 s after
      # SIGTERM at step ~150 of the default config, against 2.7 s closed.
      writer.close()
  return state
