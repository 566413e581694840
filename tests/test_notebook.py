"""colab/quickstart.ipynb runs top to bottom in fast mode, as a Colab CPU runtime would."""

import time

import nbclient
import nbformat

from tests.conftest import REPO


def test_quickstart_notebook_runs_in_fast_mode(tmp_path, monkeypatch):
  notebook = nbformat.read(REPO / "colab" / "quickstart.ipynb", as_version=4)
  assert "FAST = True" in notebook.cells[1].source  # The flag the tests (and the notebook's readers) rely on.
  monkeypatch.setenv("VIDEOGAN_NOTEBOOK_WORKDIR", str(tmp_path))
  monkeypatch.setenv("JAX_NUM_CPU_DEVICES", "1")
  start = time.perf_counter()
  nbclient.NotebookClient(notebook, timeout=900, kernel_name="python3",
                          resources={"metadata": {"path": str(REPO / "colab")}}).execute()
  print(f"quickstart.ipynb in fast mode: {time.perf_counter() - start:.0f} s")

  outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
  assert not [o for o in outputs if o.output_type == "error"]
  text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
  html = "".join(o.get("data", {}).get("text/html", "") for o in outputs if o.output_type == "display_data")
  assert "trained to step 6" in text
  assert "extended 4 -> 12 frames; animated 1 -> 12 frames" in text  # tiny_predict clips are 4 frames; 3x longer.
  assert "enhanced (10, 64, 64, 3)" in text
  assert "FVD at step 6 (8 generated vs 8 real clips):" in text
  assert html.count("<img") >= 6  # The inline GIFs: 4 samples, 3 conditional clips, 2 enhancer clips.
  assert (tmp_path / "mnist" / "checkpoints" / "6").is_dir() and (tmp_path / "mnist" / "fvd_step_6.json").is_file()


def run_install_cell(tmp_path, monkeypatch, repo_url: str, env: dict[str, str]):
  """Runs the notebook's install cell as on Colab (google.colab imported, a clone of this checkout), recording
  the pip commands instead of running them; returns them."""
  import subprocess
  import sys
  import types

  cell = nbformat.read(REPO / "colab" / "quickstart.ipynb", as_version=4).cells[3].source
  real_run, pip_commands = subprocess.run, []

  def run(command, check=False, **kwargs):
    if command[0] == "git":  # The clone is real: the cell then reads that checkout's requirements.txt.
      return real_run(command, check=check, **{"capture_output": True, **kwargs})
    pip_commands.append(command[1:])
    return subprocess.CompletedProcess(command, 0)

  monkeypatch.setattr(subprocess, "run", run)
  monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
  monkeypatch.chdir(tmp_path)
  monkeypatch.delenv("COLAB_TPU_ADDR", raising=False)
  monkeypatch.delenv("TPU_ACCELERATOR_TYPE", raising=False)
  for key, value in env.items():
    monkeypatch.setenv(key, value)
  exec(cell, {"REPO_URL": repo_url, "__name__": "__main__"})  # noqa: S102 - the notebook's own cell
  return pip_commands


def test_install_cell_on_colab_keeps_the_accelerator_stack(tmp_path, monkeypatch):
  import os
  import re

  import pytest

  requirements = (REPO / "requirements.txt").read_text()
  jax = re.search(r"^jax==(\S+)", requirements, re.M)[1]
  fake_gpu = tmp_path / "bin"
  fake_gpu.mkdir()
  (fake_gpu / "nvidia-smi").write_text("#!/bin/sh\n")
  (fake_gpu / "nvidia-smi").chmod(0o755)
  path_without_gpu = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not (
      os.path.exists(os.path.join(p, "nvidia-smi"))))
  runtimes = {"cpu": {"PATH": path_without_gpu}, "gpu": {"PATH": f"{fake_gpu}{os.pathsep}{path_without_gpu}"},
              "tpu": {"PATH": path_without_gpu, "COLAB_TPU_ADDR": "10.0.0.2:8470"}}
  nodeps = ["-m", "pip", "install", "-q", "--no-deps", "-r", "requirements-nodeps.txt", "-e", "."]
  for runtime, env in runtimes.items():
    workdir = tmp_path / runtime
    workdir.mkdir()
    first, second = run_install_cell(workdir, monkeypatch, str(REPO), env)
    assert (workdir / "videogan" / "requirements.txt").is_file()  # Cloned from REPO_URL.
    assert second == nodeps
    if runtime == "cpu":
      assert first == ["-m", "pip", "install", "-q", "-r", "requirements.txt"]
      continue
    wanted = f"jax[{'cuda12' if runtime == 'gpu' else 'tpu'}]=={jax}"
    assert first[-1] == wanted and "flax==0.12.8" in first, (runtime, first)
    # No CPU jax build over the accelerator's, and Colab's TensorFlow (here: this environment's) kept.
    assert not [a for a in first if a.startswith(("jax==", "jaxlib==", "tensorflow-cpu=="))], (runtime, first)
  with pytest.raises(ValueError, match="Set REPO_URL"):
    (tmp_path / "none").mkdir()
    run_install_cell(tmp_path / "none", monkeypatch, "", runtimes["cpu"])
