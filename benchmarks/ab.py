r"""Interleaved A/B of a train step benchmark: is a change faster?

  python benchmarks/ab.py --rounds 6 --a "" --b "JAX_NUM_CPU_DEVICES=2" \
      -- --config configs/video_folder.py:128 --config.data.folder=unused --steps 5
  python benchmarks/ab.py --script torch_twin.py --a "" --b "--explicit_pad" -- --steps 20

Each variant is a list of words: NAME=VALUE sets an environment variable of the
run, anything else is a flag for the benchmark (`--script`: benchmarks/train_step.py,
or torch_twin.py); the words after `--` go to every run. The variants alternate (A first in even rounds, B first in odd
ones), each run its own process, so a drift in the machine's speed falls on both.
Printed: each one's median step time and interquartile range, and the ratio A / B
per round (above 1: B is faster), its median and range. Run it on an otherwise
idle machine.
"""

import json
import shlex
from pathlib import Path

from absl import app, flags
from interleave import cell, quartiles, run

flags.DEFINE_string("a", "", "Variant A: NAME=VALUE environment settings and flags of the --script.")
flags.DEFINE_string("b", "", "Variant B, as A.")
flags.DEFINE_integer("rounds", 6, "Interleaved rounds.")
flags.DEFINE_enum("script", "train_step.py", ["train_step.py", "torch_twin.py"], "The benchmark to run.")
flags.DEFINE_string("json_out", None, "Also write every raw result here.")
FLAGS = flags.FLAGS


def parse(variant: str) -> tuple[dict[str, str], list[str]]:
  """'X=1 --flag' -> ({"X": "1"}, ["--flag"])."""
  env, args = {}, []
  for word in shlex.split(variant):
    if "=" in word and not word.startswith("-"):
      name, value = word.split("=", 1)
      env[name] = value
    else:
      args.append(word)
  return env, args


def main(argv):
  common = argv[1:]
  variants = {"A": parse(FLAGS.a), "B": parse(FLAGS.b)}
  times, runs = {"A": [], "B": []}, []
  for i in range(FLAGS.rounds):
    for name in ("A", "B") if i % 2 == 0 else ("B", "A"):
      env, args = variants[name]
      r = run(FLAGS.script, *common, *args, env=env)
      runs.append({"round": i, "variant": name, "result": r})
      if r:
        times[name].append(r["step_s"])
  by_round = {}
  for r in runs:
    if r["result"]:
      by_round.setdefault(r["round"], {})[r["variant"]] = r["result"]["step_s"]
  ratios = [r["A"] / r["B"] for r in by_round.values() if len(r) == 2]
  result = {"script": FLAGS.script, "a": FLAGS.a, "b": FLAGS.b, "common": common, "rounds": FLAGS.rounds, "runs": runs,
            "ratios": ratios, **{f"{k}_quartiles": quartiles(v) for k, v in times.items() if v}}
  if ratios:
    result["ratio_quartiles"] = quartiles(ratios)
  if FLAGS.json_out:
    Path(FLAGS.json_out).write_text(json.dumps(result, indent=1))
  print(f"{FLAGS.rounds} interleaved rounds of {FLAGS.script} {shlex.join(common)}; median [25th-75th percentile]")
  for name, variant in (("A", FLAGS.a), ("B", FLAGS.b)):
    q = result.get(f"{name}_quartiles")
    print(f"  {name} ({variant or 'as is'}): {cell(q) + ' ms/step' if q else '(failed)'}")
  if ratios:
    print(f"  A / B per round: {cell(result['ratio_quartiles'], 1, 3)} (above 1: B is faster)")


if __name__ == "__main__":
  app.run(main)
