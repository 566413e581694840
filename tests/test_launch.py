"""launch/ scripts: syntax, and the exact commands they would run (dry runs)."""

import os
import shlex
import subprocess

import pytest

from tests.conftest import REPO

LAUNCH = REPO / "launch"


def run(*args, env=None, check=True):
  proc = subprocess.run(["bash", *map(str, args)], cwd=REPO, capture_output=True, text=True,
                        env={**os.environ, **(env or {})})
  if check:
    assert proc.returncode == 0, proc.stderr
  return proc


@pytest.mark.parametrize("script", ["local_multiprocess.sh", "tpu_vm.sh", "slurm_gpu.sbatch"])
def test_syntax(script):
  run("-n", LAUNCH / script)


def test_local_multiprocess_dry_run():
  out = run(LAUNCH / "local_multiprocess.sh", "-n", "3", "-d", "4", "-p", "2345", "--dry-run", "--",
            "--config", "configs/moving_mnist.py:tiny", "--workdir", "/tmp/a b").stdout.splitlines()
  assert len(out) == 3
  for i, line in enumerate(out):
    assert line.startswith("env JAX_PLATFORMS=cpu JAX_NUM_CPU_DEVICES=4 python -m videogan.main ")
    assert f"--coordinator_address localhost:2345 --num_processes 3 --process_id {i} " in line
    assert line.endswith(r"--workdir /tmp/a\ b ")


def remote(line: str) -> str:
  """The command a printed `gcloud ... ssh --command=...` line runs on the workers, unquoted."""
  return next(w for w in shlex.split(line) if w.startswith("--command=")).removeprefix("--command=")


TPU_ENV = {"ZONE": "us-central2-b", "WORKDIR": "gs://bucket/run", "ACCELERATOR": "v4-32", "TPU_NAME": "vg"}


def test_tpu_vm_dry_run_installs_python_3_11_and_starts_detached():
  lines = run(LAUNCH / "tpu_vm.sh", "--dry-run", "--", "--config", "configs/ucf101.py", env=TPU_ENV).stdout.splitlines()
  commands = [line.split(" --")[0].strip() for line in lines]
  assert commands == [
      "gcloud compute tpus tpu-vm create vg",
      f"git -C {REPO} archive",
      "gcloud compute tpus tpu-vm scp " + lines[2].split()[5] + " vg:videogan.tar.gz",
      "gcloud compute tpus tpu-vm ssh vg",
      "gcloud compute tpus tpu-vm ssh vg",
  ]
  assert "--accelerator-type=v4-32 --version=tpu-ubuntu2204-base" in lines[0] and "--spot" not in lines[0]
  assert all("--worker=all" in line for line in lines[2:])
  # Python 3.11 from uv (the image's 3.10 is too old for jax 0.10), and jax[tpu] at requirements.txt's version.
  install, train = remote(lines[3]), remote(lines[4])
  assert "uv venv --python 3.11" in install and "uv pip install -q -r requirements.txt 'jax[tpu]==0.10.2'" in install
  # The same command on every worker, joined by jax.distributed, detached from ssh, logged; a gs:// workdir.
  assert ("setsid nohup python -m videogan.main --distributed=on --workdir gs://bucket/run --config configs/ucf101.py "
          "> ~/videogan/train.log 2>&1 < /dev/null &") in train
  assert not any("delete" in line for line in lines)  # Nothing deletes the VM but --delete.


def test_tpu_vm_capacity_versions_and_the_other_actions():
  def dry(*args, **env):
    return run(LAUNCH / "tpu_vm.sh", "--dry-run", *args, env={**TPU_ENV, **env}).stdout.splitlines()

  assert "--spot" in dry("--spot", "--", "--config", "c.py")[0]
  queued = dry("--queued", "--", "--config", "c.py")[0]
  assert queued.startswith("gcloud compute tpus queued-resources create vg --node-id=vg --accelerator-type=v4-32 "
                           "--runtime-version=tpu-ubuntu2204-base")
  for accelerator, version in [("v5litepod-16", "v2-alpha-tpuv5-lite"), ("v5p-8", "v2-alpha-tpuv5"),
                               ("v6e-8", "v2-alpha-tpuv6e")]:
    assert f"--version={version}" in dry("--", "--config", "c.py", ACCELERATOR=accelerator)[0]
  assert dry("--", "--config", "c.py", WORKDIR="", BUCKET="b")[4].count("gs://b/videogan/vg") == 1
  (logs,) = dry("--logs", "--worker", "1")
  assert "--worker=1" in logs and remote(logs) == "tail -n 100 -F ~/videogan/train.log"
  (stop,) = dry("--stop")
  assert "--worker=all" in stop and remote(stop) == "pkill -TERM -f 'python -m videogan.main' || true"
  assert dry("--delete") == ["gcloud compute tpus tpu-vm delete vg --quiet --zone=us-central2-b "]
  assert dry("--delete", "--queued")[0].startswith("gcloud compute tpus queued-resources delete vg --force --quiet")
  bad = run(LAUNCH / "tpu_vm.sh", "--dry-run", "--", "--config", "c.py", env={**TPU_ENV, "ACCELERATOR": "v9-8"},
            check=False)
  assert bad.returncode == 2 and "unknown ACCELERATOR=v9-8" in bad.stderr


def test_tpu_vm_needs_zone_and_workdir():
  proc = run(LAUNCH / "tpu_vm.sh", "--dry-run", "--", "--config", "c.py", env={"ZONE": "", "WORKDIR": "/w"}, check=False)
  assert proc.returncode != 0 and "ZONE" in proc.stderr


def test_slurm_dry_run():
  out = run(LAUNCH / "slurm_gpu.sbatch", "--config", "configs/ucf101.py", "--workdir", "/shared/r",
            env={"DRY_RUN": "1"}).stdout.strip()
  assert out == "srun --kill-on-bad-exit=1 .venv/bin/python -m videogan.main --distributed=on --config configs/ucf101.py --workdir /shared/r"
  text = (LAUNCH / "slurm_gpu.sbatch").read_text()
  assert "#SBATCH --ntasks-per-node=1" in text and "#SBATCH --gpus-per-node=8" in text
