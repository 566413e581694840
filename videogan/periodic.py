"""What the trainer does every n steps besides training: actions (samples, evaluations) and progress.

`Action` is a schedule plus a callback. It is not a `clu.periodic_actions`
action because those decide inside `__call__` whether they run, and the
trainer must know beforehand: it checks the step's metrics for NaN before
any action sees the state. Scalars go through `clu.metric_writers`.
"""

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from clu import metric_writers


@dataclasses.dataclass(frozen=True)
class Action:
  """`run(step, state)` every `every` steps (0: never) and, with `at_end`, at the last step."""

  name: str
  every: int
  run: Callable[[int, Any], None]
  at_end: bool = True

  def due(self, step: int, is_last: bool) -> bool:
    return (self.at_end and is_last) or (self.every > 0 and step % self.every == 0)


class Progress:
  """Windowed means of the step metrics, throughput and ETA, for the log line and TensorBoard."""

  def __init__(self, total_steps: int, examples_per_step: int, example_name: str, flops_per_step: float = 0.0):
    self.total_steps, self.examples_per_step, self.example_name = total_steps, examples_per_step, example_name
    self.flops_per_step = flops_per_step
    self.window: list[dict[str, np.ndarray]] = []
    self.restart_clock()

  def restart_clock(self) -> None:
    self.start = time.perf_counter()

  def add(self, metrics: dict[str, np.ndarray]) -> None:
    self.window.append(metrics)

  def flush(self, step: int, writer: metric_writers.MetricWriter) -> dict[str, float]:
    """The window's means plus steps/s, examples/s (and GFLOP/s); written as scalars at `step`, then cleared."""
    steps_per_sec = len(self.window) / (time.perf_counter() - self.start)
    means = {k: float(np.mean([m[k] for m in self.window])) for k in self.window[0]}
    means.update(steps_per_sec=steps_per_sec)
    means[f"{self.example_name}_per_sec"] = steps_per_sec * self.examples_per_step
    if self.flops_per_step:
      means["gflops_per_sec"] = self.flops_per_step / 1e9 * steps_per_sec
    writer.write_scalars(step, means)
    self.window = []
    return means

  def line(self, step: int, means: dict[str, float]) -> str:
    """`step 850/3000 | 1.10 steps/s | 17.6 clips/s | ETA 00:32:10`."""
    eta = time.strftime("%H:%M:%S", time.gmtime((self.total_steps - step) / means["steps_per_sec"]))
    return (f"step {step}/{self.total_steps} | {means['steps_per_sec']:.2f} steps/s | "
            f"{means[f'{self.example_name}_per_sec']:.1f} {self.example_name}/s | ETA {eta}")
