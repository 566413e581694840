"""The multi-host path on one machine: 2 processes x 2 fake CPU devices (gloo).

Run through `launch/local_multiprocess.sh`, as the README documents it: train,
kill -9 every process after a checkpoint, restart, resume, and compare with
one process driving 4 devices. The two runs reduce gradients in a different
order (gloo across processes vs in-process), so they agree within the bound of
tests/test_sharding.py (Adam eps=1e-3, as there), not bit for bit; a real
partitioning error (such as the 1/4-sized gradients once found in
test_sharding) is far outside it.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time

from tests.conftest import REPO, TINY_CONFIG, assert_close_to, gan_initial_state, load_config, run_cli, state_arrays

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

  # Within the bound of tests/test_sharding.py, on what training changed from the seed's initial state.
  config = load_config(TINY_CONFIG)
  config.optimizer.eps = 1e-3
  init = gan_initial_state(config)
  assert_close_to(state_arrays(workdir, 6), state_arrays(ref, 6), init)
  # Only process 0 writes summaries: one event file per launch, not per process.
  assert len(list(workdir.glob("events.out.tfevents.*"))) == 2


def test_sigterm_to_one_process_saves_on_both_exits_0_and_resumes(tmp_path):
  """A preemption notice reaches one host: every process saves at the agreed step and exits 0."""
  workdir = tmp_path / "run"
  proc = launch(workdir, "--config.total_steps=1000000", "--config.checkpoint_every=100000",
                log_dir=tmp_path / "logs1")
  worker_log = tmp_path / "logs1" / "process_1.log"
  while not (worker_log.is_file() and "step 3/" in worker_log.read_text()):
    assert proc.poll() is None, f"launcher exited early:\n{proc.stdout.read()[-6000:]}"
    time.sleep(0.05)
  (worker,) = [int(p) for p in subprocess.run(["pgrep", "-f", "--", f"--process_id 1 .*--workdir {workdir} "],
                                                capture_output=True, text=True).stdout.split()]
  os.kill(worker, signal.SIGTERM)
  output = proc.communicate(timeout=600)[0]
  assert proc.returncode == 0, output[-6000:]  # The launcher exits 0 only if both processes did.
  logs = {"process 0": output, "process 1": worker_log.read_text()}
  stopped = {}
  for name, log in logs.items():
    match = re.search(r"Stopped by a preemption notice \(SIGTERM to a process\) at step (\d+)", log)
    assert match, f"{name}:\n{log[-4000:]}"
    stopped[name] = int(match[1])
  step = stopped["process 0"]
  assert stopped["process 1"] == step and step > 3
  assert sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()) == [step]

  # Resumed to step + 2, it matches one process trained there without a stop (the bound of test_sharding).
  proc = launch(workdir, f"--config.total_steps={step + 2}", log_dir=tmp_path / "logs2")
  output = proc.communicate(timeout=600)[0]
  assert proc.returncode == 0 and f"Resumed from step {step}" in output, output[-6000:]
  ref = tmp_path / "one_process"
  run_cli(*COMMON, "--workdir", str(ref), f"--config.total_steps={step + 2}", env={"JAX_NUM_CPU_DEVICES": "4"})
  config = load_config(TINY_CONFIG)
  config.optimizer.eps = 1e-3
  assert_close_to(state_arrays(workdir, step + 2), state_arrays(ref, step + 2), gan_initial_state(config))
