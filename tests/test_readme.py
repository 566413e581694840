"""The README's two commands are the ones CI and users run."""

import re

from tests.conftest import REPO


def readme_commands() -> list[str]:
  return re.findall(r"```bash\n(python3 -m venv[^\n]*)\n```", (REPO / "README.md").read_text())


def test_readme_has_the_two_commands_and_ci_runs_the_test_one():
  train, test = readme_commands()
  assert "videogan.main --config configs/moving_mnist.py --workdir" in train
  assert test.endswith("&& pytest")
  assert test in (REPO / ".ci" / "run").read_text().splitlines()


def test_every_requirement_is_pinned():
  for name in ("requirements.txt", "requirements-dev.txt", "requirements-nodeps.txt", "benchmarks/requirements-torch.txt"):
    for line in (REPO / name).read_text().splitlines():
      requirement = line.split("#")[0].strip()
      if requirement and not requirement.startswith("-r "):  # Included files are in the list.
        assert "==" in requirement, f"{name}: {requirement!r} is not pinned"
