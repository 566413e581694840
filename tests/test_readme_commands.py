"""Every command in the ```bash blocks of README.md and docs/*.md works: run for real, made tiny, and dry-run.

`test_readme_commands_run_for_real` runs them all in order through
tests/run_readme_commands.py (tiny configs, paths in a scratch directory; its
docstring lists the changes and the few commands it does not run: environment
setup, cloud clusters, dataset downloads, PyTorch benchmarks), then checks what
they wrote. The dry run parses each command without running it: its module or
script exists, `--mode` and every other flag are defined by videogan.main, its
`--config` file and variant load, and every `--config.KEY=VALUE` override is a
key of that config that accepts the value; for the commands that are not run,
that is the check (`tfds build`, `sbatch` and `launch/tpu_vm.sh` get their
script checked for existence).
"""

import importlib.util
import json
import os
import shlex
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO, load_config
from tests.run_readme_commands import readme_commands, why_not_run


def check_videogan_main(args: list[str]) -> None:
  from absl import flags

  import videogan.main  # noqa: F401 - Defines the flags.

  defined = flags.FLAGS
  config = None
  for i, arg in enumerate(args):
    if arg == "--config":
      config = load_config(args[i + 1])
  for i, arg in enumerate(args):
    if not arg.startswith("--"):
      continue
    name, _, value = arg[2:].partition("=")
    if name.startswith("config."):
      assert config is not None, f"{arg} without --config"
      key = name[len("config."):]
      target = config
      for part in key.split(".")[:-1]:
        target = target[part]
      assert key.split(".")[-1] in target, f"README: unknown config key {key}"
      current = target[key.split(".")[-1]]
      config.update_from_flattened_dict({key: value if current is None else type(current)(value)})
    else:
      assert name in defined, f"README: videogan.main has no flag --{name}"
      if name == "mode":
        assert args[i + 1] in defined["mode"].parser.enum_values, f"README: unknown --mode {args[i + 1]}"


@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_matches_the_code(command):
  words = shlex.split(command)
  while words and "=" in words[0] and not words[0].startswith("-"):  # VAR=value prefixes
    words = words[1:]
  program = words[0]
  if program in ("python", "python3") and words[1] == "-m":
    module = words[2]
    if module == "venv":
      return
    assert importlib.util.find_spec(module) is not None, f"README: no module {module}"
    if module == "videogan.main":
      check_videogan_main(words[3:])
  elif program in ("python", "python3"):
    assert (REPO / words[1]).is_file(), f"README: no script {words[1]}"
  elif program == "videogan":  # The installed console script: the same flags.
    check_videogan_main(words[1:])
  elif program == "sbatch":
    assert (REPO / next(w for w in words if w.startswith("launch/"))).is_file()
  elif program.startswith("launch/"):
    assert (REPO / program).is_file(), f"README: no script {program}"
  elif program == "pip":
    for i, word in enumerate(words):
      if word == "-r":
        assert (REPO / words[i + 1]).is_file(), f"README: no requirements file {words[i + 1]}"
  else:
    assert program in (".", "pytest", "tfds"), f"README: a command this test does not know: {command}"


def test_readme_commands_run_for_real(tmp_path):
  env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "JAX_NUM_CPU_DEVICES": "1"}
  proc = subprocess.run([sys.executable, str(REPO / "tests" / "run_readme_commands.py"), str(tmp_path)],
                        cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
  print(proc.stdout)
  ran = [line for line in proc.stdout.splitlines() if line.startswith("RUN: ")]
  assert len(ran) == len({c for c in readme_commands() if why_not_run(c) is None}) >= 15

  from tests.video_helpers import read_counter
  from videogan import video_io
  from videogan.gan import conditional

  runs = tmp_path / "runs"
  for workdir, step in (("moving_mnist", 4), ("predict", 4), ("i2v", 4), ("enhancer_x2", 4), ("denoise", 4),
                        ("mine", 4), ("../tmp/tiny", 20)):
    assert (runs / workdir / "checkpoints" / str(step)).is_dir(), workdir
  # Sampled (10-frame 32 px grey clips), then sampled again through the x2 enhancer into the same folder.
  samples = runs / "moving_mnist" / "sample_output"
  with np.load(samples / "samples.npz", allow_pickle=False) as f:
    assert f["videos"].shape == (4, 10, 64, 64, 3) and f["videos"].dtype == np.uint8 and float(f["fps"]) == 10
  assert video_io.read_video(samples / "clip_0003.mp4")[0].shape == (10, 64, 64, 3)
  assert (samples / "clip_0003.gif").is_file() and (samples / "grid.mp4").is_file() and (samples / "grid.png").is_file()
  assert json.loads((runs / "moving_mnist" / "fvd_step_4.json").read_text())["fvd"] > 0

  extended, fps = video_io.read_video(tmp_path / "clip_20s.mp4")  # The seed's example: 10 s at 10 fps -> 20 s.
  assert extended.shape[0] == 200 and fps == 10
  np.testing.assert_array_equal(read_counter(np.repeat(extended[:100], 3, -1)), np.arange(100))  # Kept as given.
  animated, fps = video_io.read_video(tmp_path / "still.gif")  # 3 s at 10 fps, starting with the still.
  assert animated.shape[0] == 30 and fps == 10
  np.testing.assert_array_equal(animated[0, ..., :1], conditional.load_image(tmp_path / "still.png", 32, 1)[0])
  report = json.loads((runs / "predict" / "eval_prediction.json").read_text())
  assert report["clips"] == 8 and report["given_frames"] == 2 and report["predicted_frames"] == 2
  assert report["copy_last_frame"]["seam"] == 0 and report["model"]["mse"] > 0

  assert json.loads((runs / "enhancer_x2" / "eval_enhancer.json").read_text())["recipe"]["scale"] == 2
  assert video_io.read_video(tmp_path / "out.mp4")[0].shape[:3] == (6, 64, 64)  # in.mp4 (32 px) at 2x.
  assert (tmp_path / "data" / "mine_tfr" / "index.json").is_file()
