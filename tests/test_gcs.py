"""A run whose workdir is a gs:// URL, against a Cloud Storage API on loopback (tests/gcs_emulator.py).

The run's processes use the same clients as on Cloud TPU (TensorFlow's GCS file
system via etils.epath and TensorBoard, tensorstore via Orbax); only their
endpoint is the emulator.
"""

import io
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import REPO
from tests.gcs_emulator import GcsEmulator

CONFIG = (f"--config={REPO / 'configs' / 'moving_mnist.py'}:tiny", "--config.data.clip_len=10",
          "--config.fvd.num_real=6", "--config.fvd.num_generated=6", "--config.fvd.batch_size=3")


@pytest.fixture(scope="module")
def gcs():
  with GcsEmulator() as emulator:
    yield emulator


def cli(gcs, cwd, *args, wait=True):
  env = {**os.environ, **gcs.env, "JAX_NUM_CPU_DEVICES": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
  proc = subprocess.Popen([sys.executable, "-m", "videogan.main", *CONFIG, *args], cwd=cwd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  if not wait:
    return proc
  out, err = proc.communicate(timeout=900)
  assert proc.returncode == 0, err[-4000:]
  return out, err


def committed_steps(gcs, prefix):
  """Checkpoint steps Orbax finished (on GCS it marks each with commit_success.txt, having no atomic rename)."""
  return sorted(int(name.split("/")[-2]) for name in gcs.objects(f"{prefix}/checkpoints/")
                if name.endswith("/commit_success.txt") and name.count("/") == 3)


def test_a_gs_workdir_trains_is_killed_resumes_samples_and_evaluates(gcs, tmp_path):
  workdir = f"gs://{gcs.bucket}/run"
  run = ("--workdir", workdir, f"--config.fvd.cache_dir=gs://{gcs.bucket}/fvd_cache")
  train = (*run, "--config.checkpoint_every=2", "--config.total_steps=8")
  cwd = tmp_path / "cwd"
  cwd.mkdir()

  proc = cli(gcs, cwd, *train, wait=False)
  while proc.poll() is None and not [s for s in committed_steps(gcs, "run") if s >= 4]:
    time.sleep(0.05)
  assert proc.poll() is None, "the run finished before it could be killed; raise total_steps"
  proc.kill()
  proc.communicate()
  saved = committed_steps(gcs, "run")
  assert saved and saved[-1] < 8

  _, log = cli(gcs, cwd, *train)
  assert f"Resumed from step {saved[-1]} in {workdir}/checkpoints" in log
  assert "Workdir gs://videogan-test/run is not on a local disk: free space not checked" in log
  assert committed_steps(gcs, "run")[-1] == 8
  cli(gcs, cwd, *run, "--mode", "sample")
  cli(gcs, cwd, *run, "--mode", "eval")

  objects = gcs.objects()
  for name in ("run/config.json", "run/samples/step_000008.png", "run/samples/step_000008.mp4",
               "run/sample_output/samples.npz", "run/sample_output/clip_0000.mp4", "run/fvd_step_8.json"):
    assert objects.get(name, 0) > 0, (name, sorted(objects))
  assert any(n.startswith("run/events.out.tfevents.") for n in objects)
  assert any(n.startswith("fvd_cache/fvd_real_") for n in objects)
  assert json.loads(gcs.read("run/config.json"))["total_steps"] == 8
  report = json.loads(gcs.read("run/fvd_step_8.json"))
  assert report["step"] == 8 and report["fvd"] > 0
  with np.load(io.BytesIO(gcs.read("run/sample_output/samples.npz")), allow_pickle=False) as f:
    assert f["videos"].shape == (4, 10, 32, 32, 1) and f["videos"].dtype == np.uint8
  # Nothing on local disk: not in the working directory (where Path("gs://...") used to land) nor the repo.
  assert list(cwd.iterdir()) == [] and not (REPO / "gs:").exists()
