#!/usr/bin/env bash
# Trains videogan on a Cloud TPU VM or pod slice, detached from this terminal.
#
#   TPU_NAME=vg ZONE=us-central2-b ACCELERATOR=v4-32 WORKDIR=gs://BUCKET/runs/ucf101 \
#     launch/tpu_vm.sh [--dry-run] [--spot | --queued] -- --config configs/ucf101.py [--config.KEY=VALUE ...]
#   launch/tpu_vm.sh --logs [--worker N]   # follow the training log (Ctrl-C stops following, not training)
#   launch/tpu_vm.sh --stop                # SIGTERM on every worker: all save a checkpoint and exit
#   launch/tpu_vm.sh --delete              # delete the TPU VM (or queued resource); nothing else deletes it
#
# Starting creates the TPU (a plain VM, a spot VM with --spot, or a queued resource with
# --queued, waited for until ACTIVE), copies this checkout (HEAD) to every worker, installs
# Python 3.11 with uv (TPU VM images ship 3.10; jax 0.10 needs >= 3.11) and jax[tpu] at the
# version of requirements.txt, then starts the same command on every worker (one JAX process
# per host, joined by jax.distributed) under setsid/nohup, writing ~/videogan/train.log. The
# run survives a dropped ssh connection; run the same start again to resume it (a new VM
# after --delete resumes from the checkpoints in WORKDIR).
#
# Environment:
#   TPU_NAME      name of the TPU VM (default videogan)
#   ZONE          zone with quota for ACCELERATOR (required)
#   ACCELERATOR   v4-8 ... v4-4096, v5litepod-1 ... v5litepod-256, v5p-8 ..., v6e-1 ... (default v4-8)
#   VERSION       TPU runtime (default from ACCELERATOR: v4 tpu-ubuntu2204-base, v5e v2-alpha-tpuv5-lite,
#                 v5p v2-alpha-tpuv5, v6e v2-alpha-tpuv6e)
#   PROJECT       GCP project (default: gcloud's configured project)
#   WORKDIR       checkpoints, summaries, samples: a gs:// URL every worker shares (default
#                 gs://$BUCKET/videogan/$TPU_NAME when BUCKET is set)
# --dry-run prints the commands instead of running them.
set -euo pipefail

dry_run=0
action=start
capacity=on-demand
worker=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) dry_run=1; shift ;;
    --spot) capacity=spot; shift ;;
    --queued) capacity=queued; shift ;;
    --logs) action=logs; shift ;;
    --stop) action=stop; shift ;;
    --delete) action=delete; shift ;;
    --worker) worker="$2"; shift 2 ;;
    -h|--help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; break ;;
    *) echo "tpu_vm.sh: unknown option $1 (videogan's arguments go after --)" >&2; exit 2 ;;
  esac
done
: "${ZONE:?set ZONE, a zone with TPU quota, e.g. us-central2-b}"
tpu_name="${TPU_NAME:-videogan}"
accelerator="${ACCELERATOR:-v4-8}"
case "$accelerator" in
  v4-*) default_version=tpu-ubuntu2204-base ;;
  v5litepod-*|v5e-*) default_version=v2-alpha-tpuv5-lite ;;
  v5p-*) default_version=v2-alpha-tpuv5 ;;
  v6e-*) default_version=v2-alpha-tpuv6e ;;
  *) echo "tpu_vm.sh: unknown ACCELERATOR=$accelerator; expected v4-N, v5litepod-N, v5p-N or v6e-N" >&2; exit 2 ;;
esac
version="${VERSION:-$default_version}"
project_flag=()
[[ -n "${PROJECT:-}" ]] && project_flag=(--project="$PROJECT")
where=(--zone="$ZONE" "${project_flag[@]}")

run() {
  if [[ $dry_run == 1 ]]; then
    printf '%q ' "$@"; echo
  else
    "$@"
  fi
}
on_workers() {  # on_workers WORKER COMMAND: ssh to one worker (or all)
  run gcloud compute tpus tpu-vm ssh "$tpu_name" --worker="$1" "${where[@]}" --command="$2"
}

case "$action" in
  logs) on_workers "$worker" "tail -n 100 -F ~/videogan/train.log"; exit 0 ;;
  stop) on_workers all "pkill -TERM -f 'python -m videogan.main' || true"; exit 0 ;;
  delete)
    if [[ $capacity == queued ]]; then
      run gcloud compute tpus queued-resources delete "$tpu_name" --force --quiet "${where[@]}"
    else
      run gcloud compute tpus tpu-vm delete "$tpu_name" --quiet "${where[@]}"
    fi
    exit 0 ;;
esac

[[ $# -gt 0 ]] || { echo "tpu_vm.sh: give videogan's arguments after --, e.g. -- --config configs/ucf101.py" >&2; exit 2; }
if [[ -z "${WORKDIR:-}" && -n "${BUCKET:-}" ]]; then
  WORKDIR="gs://$BUCKET/videogan/$tpu_name"
fi
: "${WORKDIR:?set WORKDIR (a gs:// URL all workers share) or BUCKET}"
[[ "$WORKDIR" == gs://* ]] || echo "tpu_vm.sh: WORKDIR=$WORKDIR is not gs://; every worker must see the same directory" >&2
repo_root="$(cd "$(dirname "$0")/.." && pwd)"
archive="/tmp/videogan-$$.tar.gz"
jax_version="$(sed -n 's/^jax==\([0-9.]*\).*/\1/p' "$repo_root/requirements.txt")"

case "$capacity" in
  queued)
    run gcloud compute tpus queued-resources create "$tpu_name" --node-id="$tpu_name" \
      --accelerator-type="$accelerator" --runtime-version="$version" "${where[@]}"
    if [[ $dry_run == 0 ]]; then
      until [[ "$(gcloud compute tpus queued-resources describe "$tpu_name" "${where[@]}" \
                 --format='value(state.state)')" == ACTIVE ]]; do
        echo "tpu_vm.sh: waiting for the queued resource $tpu_name to become ACTIVE..." >&2; sleep 60
      done
    fi ;;
  spot) run gcloud compute tpus tpu-vm create "$tpu_name" --accelerator-type="$accelerator" --version="$version" \
          --spot "${where[@]}" ;;
  *) run gcloud compute tpus tpu-vm create "$tpu_name" --accelerator-type="$accelerator" --version="$version" \
       "${where[@]}" ;;
esac

install="set -e; mkdir -p ~/videogan && tar xzf ~/videogan.tar.gz -C ~/videogan && cd ~/videogan \
&& (command -v uv >/dev/null || curl -LsSf https://astral.sh/uv/install.sh | sh) && export PATH=\$HOME/.local/bin:\$PATH \
&& uv venv --python 3.11 --allow-existing .venv && . .venv/bin/activate \
&& uv pip install -q -r requirements.txt 'jax[tpu]==$jax_version' \
&& uv pip install -q --no-deps -r requirements-nodeps.txt -e ."
train="cd ~/videogan && . .venv/bin/activate && setsid nohup python -m videogan.main --distributed=on \
--workdir $(printf '%q' "$WORKDIR") $(printf '%q ' "$@")> ~/videogan/train.log 2>&1 < /dev/null &"

run git -C "$repo_root" archive --format=tar.gz -o "$archive" HEAD
run gcloud compute tpus tpu-vm scp "$archive" "$tpu_name:videogan.tar.gz" --worker=all "${where[@]}"
on_workers all "$install"
on_workers all "$train"
echo "tpu_vm.sh: training started on $tpu_name (detached). Follow: launch/tpu_vm.sh --logs;" \
  "stop and save: launch/tpu_vm.sh --stop; delete the VM: launch/tpu_vm.sh --delete. Checkpoints: $WORKDIR" >&2
