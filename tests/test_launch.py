"""launch/ scripts: syntax, and the exact commands they would run (dry runs)."""

import os
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


def test_tpu_vm_dry_run():
  env = {"ZONE": "us-central2-b", "WORKDIR": "/mnt/shared/run", "ACCELERATOR": "v4-32", "TPU_NAME": "vg"}
  lines = run(LAUNCH / "tpu_vm.sh", "--dry-run", "--", "--config", "configs/ucf101.py", env=env).stdout.splitlines()
  commands = [line.split(" --")[0].strip() for line in lines]
  assert commands == [
      f"git -C {REPO} archive",
      "gcloud compute tpus tpu-vm create vg",
      "gcloud compute tpus tpu-vm scp " + lines[2].split()[5] + " vg:videogan.tar.gz",
      "gcloud compute tpus tpu-vm ssh vg",
      "mkdir -p results/vg",
      "gcloud compute tpus tpu-vm scp vg:/mnt/shared/run/samples results/vg",
      "gcloud compute tpus tpu-vm delete vg",
  ]
  assert "--accelerator-type=v4-32 --version=tpu-ubuntu2204-base" in lines[1]
  assert "--worker=all" in lines[2] and "--worker=all" in lines[3]
  # The same training command on every worker, joined by jax.distributed.
  assert r"python\ -m\ videogan.main\ --distributed=on\ --workdir\ /mnt/shared/run\ --config\ configs/ucf101.py" in lines[3]
  assert "--quiet" in lines[6]
  keep = run(LAUNCH / "tpu_vm.sh", "--dry-run", "--keep", "--", "--config", "c.py", env=env).stdout
  assert "delete" not in keep


def test_tpu_vm_needs_zone_and_workdir():
  proc = run(LAUNCH / "tpu_vm.sh", "--dry-run", "--", "--config", "c.py", env={"ZONE": "", "WORKDIR": "/w"}, check=False)
  assert proc.returncode != 0 and "ZONE" in proc.stderr


def test_slurm_dry_run():
  out = run(LAUNCH / "slurm_gpu.sbatch", "--config", "configs/ucf101.py", "--workdir", "/shared/r",
            env={"DRY_RUN": "1"}).stdout.strip()
  assert out == "srun --kill-on-bad-exit=1 .venv/bin/python -m videogan.main --distributed=on --config configs/ucf101.py --workdir /shared/r"
  text = (LAUNCH / "slurm_gpu.sbatch").read_text()
  assert "#SBATCH --ntasks-per-node=1" in text and "#SBATCH --gpus-per-node=8" in text
