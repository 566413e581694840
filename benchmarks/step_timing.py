"""One step time from per-step timings, fair to steps that differ (lazy R1).

With lazy R1 (`r1_weight > 0`, `r1_every = n > 1`) one step in n also runs
the penalty's double backward pass, so the median step would leave it out
and the mean of a few steps depends on how many of them it hits. Both
benchmarks (train_step.py and its PyTorch twin, which count steps from 0 the
same way) therefore time whole n-step cycles and report the median over
cycles of the mean step time in a cycle. For n = 1 that is the median step.
"""

import statistics

import ml_collections


def cycle(config: ml_collections.ConfigDict) -> int:
  """Steps after which the step's work repeats: r1_every with R1 on, else 1."""
  return config.r1_every if config.r1_weight > 0 else 1


def whole_cycles(steps: int, config: ml_collections.ConfigDict) -> int:
  """`steps` rounded up to whole cycles."""
  n = cycle(config)
  return -(-steps // n) * n


def step_time(times: list[float], config: ml_collections.ConfigDict) -> float:
  """Median over whole cycles of their mean step time (the median step for cycles of 1)."""
  n = cycle(config)
  if len(times) % n:
    raise ValueError(f"{len(times)} step times are not whole cycles of {n} steps (r1_every).")
  return statistics.median(sum(times[i:i + n]) / n for i in range(0, len(times), n))


def describe(steps: int, warmup: int, config: ml_collections.ConfigDict) -> str:
  n = cycle(config)
  if n == 1:
    return f"median of {steps} after {warmup} warm-up"
  return f"median over {whole_cycles(steps, config) // n} cycles of {n} steps (lazy R1) of their mean, after {warmup} warm-up"
