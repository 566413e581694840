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
