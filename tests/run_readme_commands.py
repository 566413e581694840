r"""Runs the commands of README.md and docs/*.md for real, made tiny, in one process; for tests/test_readme_commands.py.

  python tests/run_readme_commands.py SCRATCH_DIR

Each ```bash command of README.md, then of docs/*.md (by name), runs in order, as written, with three
changes that keep it to seconds (and nothing else):

* sizes: the documented config becomes its tiny variant (`SMALL` below),
  e.g. `configs/moving_mnist.py:predict` -> `configs/moving_mnist.py:tiny_predict`;
  `--mode eval` and `eval_prediction` score a few clips (`MODE_FLAGS`),
  benchmarks run at small sizes (`BENCHMARK_FLAGS`) and the enhancer's clips are
  made from one photograph, without the opencv-doc download (`MODULE_FLAGS`);
* paths: relative ones resolve in SCRATCH_DIR (which links configs/, launch/ and
  benchmarks/ to the repo), `~`, `/data`, `/tmp`, `/mnt` and `/shared` move under it;
* inputs the README assumes the user has (clip.mp4, still.png, in.mp4,
  ~/videos) are written first: counter videos from tests/video_helpers.py.

`python -m videogan.main` commands run in this process (flags re-parsed for
each, as `app.run` would parse them) so the ~6 s of imports are paid once;
other Python commands run as subprocesses, with HOME in SCRATCH_DIR too.
A command shown twice (in the README and on a docs page) runs the first time.
Commands that set up the environment (CI runs them), need a cluster or a
downloaded dataset, or need PyTorch are listed with the reason and not run
(tests/test_readme_commands.py dry-runs them). Prints one line per command;
exits non-zero at the first failure.
"""

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SMALL = {  # README config -> (tiny config, extra overrides)
    "configs/moving_mnist.py": ("configs/moving_mnist.py:tiny", ("--config.data.clip_len=10",)),  # FVD needs >= 9.
    "configs/moving_mnist.py:predict": ("configs/moving_mnist.py:tiny_predict", ()),
    "configs/moving_mnist.py:i2v": ("configs/moving_mnist.py:tiny", ("--config.model.context_frames=1",
                                                                     "--config.prediction_l1=20.0")),
    "configs/moving_mnist.py:tiny": ("configs/moving_mnist.py:tiny", ()),
    "configs/enhancer.py": ("configs/enhancer.py:tiny", ()),
    "configs/enhancer.py:denoise": ("configs/enhancer.py:tiny", ("--config.model.scale=1", "--config.patch_size=16")),
    "configs/video_folder.py": ("configs/video_folder.py:tiny", ("--config.data.eval_fraction=0.5",)),
    "configs/one_video.py": ("configs/one_video.py:tiny", ()),
    "configs/moving_mnist.py:general": ("configs/moving_mnist.py:tiny", ("--config.data.clip_len=10",)),
    "configs/moving_mnist.py:layered": ("configs/moving_mnist.py:tiny", ("--config.data.clip_len=10",)),
}
MODE_FLAGS = {  # Extra overrides per --mode, for tiny models.
    "eval": ("--config.fvd.num_real=6", "--config.fvd.num_generated=6", "--config.fvd.batch_size=3",
             "--config.fvd.cache_dir=fvd_cache"),
    "eval_prediction": ("--num_clips=8",),
}
BENCHMARK_FLAGS = {"benchmarks/enhance.py": ("--size=32", "--repeats=1", "--chunk=3"),
                   "benchmarks/fvd.py": ("--num=4", "--batch=2")}
MODULE_FLAGS = {"videogan.data.enhancer_clips": ("--photos=chelsea", "--noopencv")}  # python -m MODULE
MOVED = {"~/": "home", "/data/": "data", "/tmp/": "tmp", "/mnt/": "mnt", "/shared/": "shared"}
NOT_RUN = {  # first word(s) -> why
    "python3 -m venv": "environment setup (CI runs the README's test command)",
    ".": "environment setup", "pip": "environment setup", "pytest": "the test command itself",
    "tfds": "downloads a dataset", "python -m videogan.main --config configs/ucf101.py": "needs the UCF-101 download",
    "ZONE=": "Cloud TPU", "sbatch": "Slurm cluster",
    "launch/local_multiprocess.sh": "run by tests/test_multiprocess.py through the same launcher",
    "python benchmarks/run_all.py": "needs PyTorch (benchmarks/requirements-torch.txt) and minutes",
}


def documents() -> list[Path]:
  """README.md, then the pages under docs/ in path order: every page whose commands are run."""
  return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def readme_commands() -> list[str]:
  """The commands of the ```bash blocks of README.md and docs/*.md, in order (`a && b` is two)."""
  commands = []
  text = "\n".join(path.read_text() for path in documents())
  for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
    for line in block.replace("\\\n", " ").splitlines():
      line = line.split("  #")[0].strip()
      if line and not line.startswith("#"):
        commands += [part.strip() for part in line.split("&&")]
  return commands


def why_not_run(command: str) -> str | None:
  return next((why for start, why in NOT_RUN.items() if command.startswith(start)), None)


def make_small(words: list[str], scratch: Path) -> list[str]:
  """The command's words with tiny configs and paths inside `scratch` (module docstring)."""
  out, prefixes = [], "|".join(map(re.escape, MOVED))
  for i, word in enumerate(words):
    if i and words[i - 1] == "--config":
      word, extra = SMALL[word]
      out += [word, *extra]
      continue
    out.append(re.sub(rf"(^|=)({prefixes})", lambda m: f"{m[1]}{scratch / MOVED[m[2]]}/", word))
  if "--mode" in out:
    out += MODE_FLAGS.get(out[out.index("--mode") + 1], ())
  module = out[2] if out[:2] == ["python", "-m"] else ""
  return out + list(BENCHMARK_FLAGS.get(out[1] if out[0] == "python" else "", ())) + list(MODULE_FLAGS.get(module, ()))


def write_inputs(scratch: Path) -> None:
  from tests.video_helpers import counter_frames, write_video
  from videogan import video_io

  write_video(scratch / "clip.mp4", counter_frames(100), fps=10)  # The seed's 10 s clip at 10 fps.
  write_video(scratch / "in.mp4", counter_frames(6, size=32), fps=10)
  video_io.write_image(scratch / "still.png", counter_frames(6)[5])  # Stripes 0 and 2 white.
  for i in range(4):
    write_video(scratch / "home" / "videos" / f"{i}.mp4", counter_frames(12 + i), fps=10)


def run_main(argv: list[str]) -> None:
  """`python -m videogan.main ARGS` in this process: parse the flags as app.run does, call main."""
  from absl import flags
  from absl import logging as absl_logging

  import videogan.main

  fv = flags.FLAGS
  for name in [n for n in fv if n.startswith("config.")]:  # Overrides are flags defined by the last parse.
    delattr(fv, name)
  fv.unparse_flags()
  sys.argv = argv  # config_flags reads the overrides from sys.argv.
  rest = fv(argv)
  absl_logging.use_absl_handler()
  absl_logging.set_verbosity("info")
  try:
    videogan.main.main(rest)
  except SystemExit as e:
    if e.code not in (None, 0):
      raise RuntimeError(f"exited with {e.code}") from None


def main(scratch: Path) -> None:
  scratch.mkdir(parents=True, exist_ok=True)
  for name in ("configs", "launch", "benchmarks"):
    if not (scratch / name).exists():
      (scratch / name).symlink_to(REPO / name)
  os.chdir(scratch)
  write_inputs(scratch)
  done = set()
  for command in readme_commands():
    why = why_not_run(command)
    if why:
      print(f"NOT RUN ({why}): {command}", flush=True)
      continue
    if command in done:  # The README and a docs page show the same command: it runs once.
      print(f"RAN ABOVE: {command}", flush=True)
      continue
    done.add(command)
    words = make_small(shlex.split(command), scratch)
    start = time.perf_counter()
    print(f"RUN: {command}\n  as: {shlex.join(words)}", flush=True)
    if words[0] not in ("python", "videogan"):
      raise ValueError(f"a README command this runner cannot run; add it to NOT_RUN with the reason: {command}")
    if words[0] == "videogan":  # The console script is videogan.main's app (tests/test_package.py runs it installed).
      run_main(["videogan.main", *words[1:]])
    elif words[:3] == ["python", "-m", "videogan.main"]:
      run_main(["videogan.main", *words[3:]])
    else:
      # HOME moves too, so that caches under ~ (FVD statistics of this tiny recipe) land in the scratch dir.
      subprocess.run([sys.executable, *words[1:]], check=True, env={**os.environ, "HOME": str(scratch / "home")})
    print(f"  OK in {time.perf_counter() - start:.1f} s", flush=True)


if __name__ == "__main__":
  main(Path(sys.argv[1]).resolve())
