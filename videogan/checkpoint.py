"""Orbax checkpoints of the train state, the data position and the config.

Every checkpoint step holds three items:
  state: the `TrainState` pytree (sharded arrays are saved by all processes);
  data:  JSON with the next example index of the training stream;
  config: JSON of the run's config, for reading a checkpoint without its run.

Saving is asynchronous: `save` returns once the arrays are copied off the
devices and the write continues in a background thread; `wait` blocks until it
has landed. A step directory only appears (atomically renamed from a temporary
name) once complete, so a crash mid-write never leaves a checkpoint that
restore would pick.
"""

from pathlib import Path
from typing import Any

import flax
import jax
import ml_collections
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers as policies

from videogan import parallel
from videogan import state as state_lib
from videogan.state import TrainState


class Checkpointer:
  """`ocp.CheckpointManager` with a save-decision and a preservation policy."""

  def __init__(self, directory: str | Path, *, save_every: int, keep: int, async_save: bool = True):
    options = ocp.CheckpointManagerOptions(
        # Save every `save_every` steps, and whenever a preemption notice
        # reaches JAX's distributed runtime (e.g. a TPU maintenance event).
        save_decision_policy=policies.AnySavePolicy(
            [policies.FixedIntervalPolicy(save_every), policies.PreemptionCheckpointingPolicy()]
        ),
        preservation_policy=policies.LatestN(keep),
        enable_async_checkpointing=async_save,
        create=True,
    )
    self.directory = Path(directory).absolute()
    self._manager = ocp.CheckpointManager(self.directory, options=options, item_names=("state", "data", "config"))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def should_save(self, step: int) -> bool:
    """Whether the policies ask for a save at `step` (interval or preemption)."""
    return self._manager.should_save(step)

  def all_steps(self) -> list[int]:
    return list(self._manager.all_steps())

  def save(self, state: TrainState, data_position: dict[str, int], config: ml_collections.ConfigDict, *, force: bool = False) -> bool:
    """Saves at `state.step` if the policies (or `force`) say so; returns whether it did."""
    step = int(jax.device_get(state.step))
    return self._manager.save(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(flax.serialization.to_state_dict(state)),
            data=ocp.args.JsonSave(data_position),
            config=ocp.args.JsonSave(config.to_dict()),
        ),
        force=force,
    )

  def restore(self, target: TrainState, step: int | None = None) -> tuple[TrainState, dict[str, Any]]:
    """Restores `step` (default: the latest) into the structure and shardings of `target`.

    `target` may be abstract (`jax.ShapeDtypeStruct` leaves with `.sharding`);
    each array is read straight into its sharding.
    """
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"No checkpoint in {self.directory}.")
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, flax.serialization.to_state_dict(target))
    restored = self._manager.restore(
        step,
        args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), data=ocp.args.JsonRestore()),
    )
    return flax.serialization.from_state_dict(target, restored["state"]), dict(restored["data"])

  def restore_config(self, step: int | None = None) -> dict[str, Any]:
    step = self.latest_step() if step is None else step
    return dict(self._manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))["config"])

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()


def checkpoint_dir(workdir: str | Path) -> Path:
  return Path(workdir) / "checkpoints"


def restore_from_workdir(config: ml_collections.ConfigDict, workdir: str | Path, gan, step: int | None = None) -> TrainState:
  """The train state saved in `workdir` (latest step by default), replicated on all devices."""
  directory = checkpoint_dir(workdir)
  if not directory.is_dir():
    raise FileNotFoundError(f"No checkpoints in {directory}: train first with --mode train --workdir {workdir}.")
  mesh = parallel.make_mesh(config.mesh)
  g_tx, d_tx = state_lib.make_optimizers(config)
  target = state_lib.abstract_state(gan, g_tx, d_tx, mesh, config.sharding)
  ckpt = Checkpointer(directory, save_every=config.checkpoint_every, keep=config.keep_checkpoints)
  try:
    return ckpt.restore(target, step)[0]
  finally:
    ckpt.close()
