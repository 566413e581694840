"""The multi-host path on one machine: 2 processes x 2 fake CPU devices (gloo).

Run through `launch/local_multiprocess.sh`, as the README documents it: train,
kill -9 every process after a checkpoint, restart, resume, and compare with
one process driving 4 devices. Equality is to 1e-2 of each leaf's scale with
Adam eps=1e-3, for the reasons given in test_sharding.py (the two runs reduce
gradients in a different order: gloo across processes vs in-process). Measured
after the 6 steps: up to 1.5e-5 on one machine; on a later AMD EPYC VM 3.4e-4
(a ~1e-5-sized temporal-conv bias of G's EMA) in one run and 1.2e-3 (a GRU
Adam moment) in the next. A real partitioning error (such as the 1/4-sized
gradients once found in test_sharding) is far above 1e-2.
"""

import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np

from tests.conftest import REPO, TINY_CONFIG, leaves_with_paths, run_cli, state_arrays

COMMON = ("--config", TINY_CONFIG, "--config.optimizer.eps=1e-3", "--config.checkpoint_every=3",
          "--config.log_every=1")


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def launch(workdir, *args, log_dir):
  """Starts the launcher in its own process group; returns the Popen."""
  return subprocess.Popen(
      ["bash", str(REPO / "launch" / "local_multiprocess.sh"), "-n", "2", "-d", "2", "-p", str(free_port()), "--",
       *COMMON, "--workdir", str(workdir), *args],
      cwd=REPO, # PYTHON: the launcher runs this interpreter (the venv's), whether or not the venv is activated.
      env={**os.environ, "PYTHON": sys.executable, "LOG_DIR": str(log_dir), "TF_CPP_MIN_LOG_LEVEL": "2"},
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
  )


def test_two_processes_killed_and_resumed_equal_one_process(tmp_path):
  ref = tmp_path / "one_process"
  run_cli(*COMMON, "--workdir", str(ref), "--config.total_steps=6", env={"JAX_NUM_CPU_DEVICES": "4"})

  # An endless run, killed with SIGKILL (all processes) once step 3's checkpoint has landed:
  # Orbax renames a step directory into place only when it is complete.
  workdir = tmp_path / "two_processes"
  proc = launch(workdir, "--config.total_steps=1000000", log_dir=tmp_path / "logs1")
  while not (workdir / "checkpoints" / "3").is_dir():
    assert proc.poll() is None, f"launcher exited early:\n{proc.stdout.read()[-6000:]}"
    time.sleep(0.02)
  os.killpg(proc.pid, signal.SIGKILL)
  first_output = proc.communicate()[0]
  assert "2 process(es)" in first_output and "Mesh {'data': 4, 'fsdp': 1} over 4 devices" in first_output

  # Restart: both processes resume from the newest complete checkpoint and finish at step 6.
  proc = launch(workdir, "--config.total_steps=6", log_dir=tmp_path / "logs2")
  output = proc.communicate()[0]
  assert proc.returncode == 0, output[-6000:]
  assert "Resumed from step" in output
  worker_log = (tmp_path / "logs2" / "process_1.log").read_text()
  assert "Resumed from step" in worker_log and "process 1 of 2" in worker_log

  expected, got = dict(leaves_with_paths(state_arrays(ref, 6))), dict(leaves_with_paths(state_arrays(workdir, 6)))
  assert expected.keys() == got.keys()
  for path, value in expected.items():
    np.testing.assert_allclose(got[path], value, rtol=0, atol=1e-2 * np.abs(value).max(), err_msg=path)
  # Only process 0 writes summaries: one event file per launch, not per process.
  assert len(list(workdir.glob("events.out.tfevents.*"))) == 2
