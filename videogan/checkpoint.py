"""Orbax checkpoints of the train state, the data position and the config.

Every checkpoint step holds three items:
  state: the task's state pytree (sharded arrays are saved by all processes);
  data:  JSON with the next example index of the training stream;
  config: JSON of the run's config, for reading a checkpoint without its run.

Saving is asynchronous: `save` returns once the arrays are copied off the
devices and the write continues in a background thread; `wait` blocks until it
has landed. A step directory only appears (atomically renamed from a temporary
name) once complete, so a crash mid-write never leaves a checkpoint that
restore would pick.

Restoring checks every array's shape against the config's model first (a
mismatch names the parameters, `CheckpointMismatchError`), and falls back
from an unreadable newest step to the previous one with a warning, moving the
bad step to `checkpoints_unreadable/` so later saves do not collide with it.
"""

import time
from typing import Any

import flax
import jax
import ml_collections
import orbax.checkpoint as ocp
from absl import logging
from etils import epath
from orbax.checkpoint import checkpoint_managers as policies

from videogan import paths
from videogan.errors import CheckpointMismatchError, CheckpointUnreadableError


def _shapes(tree) -> dict[str, tuple[int, ...]]:
  leaves = jax.tree_util.tree_leaves_with_path(tree, is_leaf=lambda x: hasattr(x, "shape"))
  return {jax.tree_util.keystr(path, simple=True, separator="/"): tuple(x.shape) for path, x in leaves}


class Checkpointer:
  """`ocp.CheckpointManager` with a save-decision and a preservation policy."""

  def __init__(self, directory: paths.PathLike, *, save_every: int, keep: int, async_save: bool = True):
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
    self.directory = paths.resolve(directory)
    self._manager = ocp.CheckpointManager(self.directory, options=options, item_names=("state", "data", "config"))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def should_save(self, step: int) -> bool:
    """Whether the policies ask for a save at `step` (interval or preemption)."""
    return self._manager.should_save(step)

  def reached_preemption(self, step: int) -> bool:
    """Multi-process runs: whether `step` is the one all processes agreed to save at after a preemption notice.

    JAX's distributed runtime catches SIGTERM in each process and agrees on the
    step (the largest any process has reached, plus one); False without it.
    """
    return self._manager.reached_preemption(step)

  def all_steps(self) -> list[int]:
    return list(self._manager.all_steps())

  def save(self, state, data_position: dict[str, int], config: ml_collections.ConfigDict, *, force: bool = False) -> bool:
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

  def restore(self, target, step: int | None = None) -> tuple[Any, dict[str, Any]]:
    """Restores `step` (default: the newest readable one) into the structure and shardings of `target`.

    `target` may be abstract (`jax.ShapeDtypeStruct` leaves with `.sharding`);
    each array is read straight into its sharding.
    """
    steps = [step] if step is not None else sorted(self.all_steps(), reverse=True)
    if not steps:
      raise FileNotFoundError(f"No checkpoint in {self.directory}.")
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, flax.serialization.to_state_dict(target))
    unreadable = []
    for s in steps:
      self._check_shapes(s, abstract)  # A different model is not corruption: no fallback.
      try:
        restored = self._manager.restore(
            s, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), data=ocp.args.JsonRestore()))
      except Exception as e:  # noqa: BLE001 - Any failure to read the files: try the previous step.
        unreadable.append(f"step {s}: {type(e).__name__}: {str(e)[:300]}")
        if step is not None:
          break
        logging.warning("Checkpoint step %d in %s is unreadable (%s: %s); trying the previous step.",
                        s, self.directory, type(e).__name__, str(e)[:300])
        continue
      if unreadable:
        self._set_aside(steps[: len(unreadable)])
      return flax.serialization.from_state_dict(target, restored["state"]), dict(restored["data"])
    raise CheckpointUnreadableError(f"No readable checkpoint in {self.directory}: " + "; ".join(unreadable))

  def _check_shapes(self, step: int, abstract) -> None:
    try:
      saved = _shapes(ocp.StandardCheckpointer().metadata(self.directory / str(step) / "state").item_metadata)
    except Exception:  # noqa: BLE001 - Unreadable metadata: the restore reports it.
      return
    if not saved:  # Likewise (Orbax returns no tree when its metadata files are damaged).
      return
    wanted = _shapes(abstract)
    problems = [
        f"{name}: checkpoint {saved.get(name, 'absent')}, config {wanted.get(name, 'absent')}"
        for name in sorted(saved.keys() | wanted.keys()) if saved.get(name) != wanted.get(name)
    ]
    if problems:
      raise CheckpointMismatchError(
          f"Checkpoint step {step} in {self.directory} does not fit this config's model; {len(problems)} array(s) "
          f"differ: {'; '.join(problems[:4])}{' ...' if len(problems) > 4 else ''}. Use the config the run was "
          "trained with (config.json in the workdir), or another --workdir.")

  def _set_aside(self, steps: list[int]) -> None:
    """Moves unreadable steps out of the manager's way, to `checkpoints_unreadable/` next to it."""
    if jax.process_index() == 0:
      for s in steps:
        target = self.directory.parent / "checkpoints_unreadable" / f"{s}-{time.strftime('%Y%m%d-%H%M%S')}"
        target.parent.mkdir(exist_ok=True)
        paths.move_tree(self.directory / str(s), target)
        logging.warning("Moved the unreadable checkpoint step %d to %s.", s, target)
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils

      multihost_utils.sync_global_devices("videogan_checkpoint_set_aside")
    self._manager.reload()

  def restore_config(self, step: int | None = None) -> dict[str, Any]:
    step = self.latest_step() if step is None else step
    return dict(self._manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))["config"])

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()


def checkpoint_dir(workdir: paths.PathLike) -> epath.Path:
  return paths.resolve(workdir) / "checkpoints"

