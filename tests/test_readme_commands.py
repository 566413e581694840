"""Every command in the README's ```bash blocks still matches the code (a dry run).

The two README commands run for real (CI runs the test one; test_readme.py),
and the CLI modes run end to end in test_cli.py, test_conditioning.py,
test_enhancer.py, test_fvd.py and test_launch.py. Here each documented
command is parsed and checked without running it: its module or script
exists, `--mode` and every other flag are defined by videogan.main, its
`--config` file and variant load, and every `--config.KEY=VALUE` override is
a key of that config that accepts the value. Cloud commands (`tfds build`,
`sbatch`, `launch/tpu_vm.sh`) get their script checked for existence.
"""

import importlib.util
import re
import shlex

import pytest

from tests.conftest import REPO


def readme_commands() -> list[str]:
  commands = []
  for block in re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S):
    for line in block.replace("\\\n", " ").splitlines():
      line = line.split("  #")[0].strip()
      if line and not line.startswith("#"):
        commands += [part.strip() for part in line.split("&&")]
  return commands


def load_config(spec: str):
  path, _, variant = spec.partition(":")
  module_spec = importlib.util.spec_from_file_location("readme_config", REPO / path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(variant or None)


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
