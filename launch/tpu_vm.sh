#!/usr/bin/env bash
# Trains videogan on a Cloud TPU VM or pod slice: create it, copy this checkout (HEAD)
# to every worker, install, run the same command on all workers (one JAX
# process per host, joined by jax.distributed), copy the samples back, delete.
#
#   TPU_NAME=vg-ucf ZONE=us-central2-b ACCELERATOR=v4-32 WORKDIR=/mnt/shared/ucf101 \
#     launch/tpu_vm.sh [--dry-run] [--keep] -- --config configs/ucf101.py [--config.KEY=VALUE ...]
#
# Environment:
#   TPU_NAME      name of the TPU VM (default videogan)
#   ZONE          zone with quota for ACCELERATOR (required)
#   ACCELERATOR   e.g. v4-8, v4-32, v5litepod-16 (default v4-8)
#   VERSION       TPU software version (default tpu-ubuntu2204-base; v5e: v2-alpha-tpuv5-lite)
#   PROJECT       GCP project (default: gcloud's configured project)
#   WORKDIR       checkpoints, summaries and samples. On a multi-host slice every
#                 worker must see the same directory (Orbax writes each host's shards
#                 there): use a shared mount such as Filestore NFS or gcsfuse.
#                 gs:// paths are not supported by videogan yet.
#   RESULTS       local directory for the copied samples (default results/TPU_NAME)
# --dry-run prints the gcloud commands instead of running them; --keep leaves
# the TPU VM running afterwards (to resume or sample later).
set -euo pipefail

dry_run=0
keep=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) dry_run=1; shift ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; break ;;
    *) echo "tpu_vm.sh: unknown option $1 (videogan's arguments go after --)" >&2; exit 2 ;;
  esac
done
[[ $# -gt 0 ]] || { echo "tpu_vm.sh: give videogan's arguments after --, e.g. -- --config configs/ucf101.py" >&2; exit 2; }
: "${ZONE:?set ZONE, a zone with TPU quota, e.g. us-central2-b}"
: "${WORKDIR:?set WORKDIR, a directory all TPU workers share}"
tpu_name="${TPU_NAME:-videogan}"
accelerator="${ACCELERATOR:-v4-8}"
version="${VERSION:-tpu-ubuntu2204-base}"
project_flag=()
[[ -n "${PROJECT:-}" ]] && project_flag=(--project="$PROJECT")
repo_root="$(cd "$(dirname "$0")/.." && pwd)"
archive="/tmp/videogan-$$.tar.gz"
results="${RESULTS:-results/$tpu_name}"

run() {
  if [[ $dry_run == 1 ]]; then
    printf '%q ' "$@"; echo
  else
    "$@"
  fi
}

train_args="$(printf '%q ' "$@")"
remote="set -e; mkdir -p videogan && tar xzf videogan.tar.gz -C videogan && cd videogan \
&& python3 -m venv .venv && . .venv/bin/activate \
&& pip install -q -r requirements.txt 'jax[tpu]==0.10.2' && pip install -q --no-deps -r requirements-nodeps.txt -e . \
&& python -m videogan.main --distributed=on --workdir $(printf '%q' "$WORKDIR") $train_args"

run git -C "$repo_root" archive --format=tar.gz -o "$archive" HEAD
run gcloud compute tpus tpu-vm create "$tpu_name" --zone="$ZONE" --accelerator-type="$accelerator" \
  --version="$version" "${project_flag[@]}"
if [[ $keep == 0 ]]; then
  cleanup() { run gcloud compute tpus tpu-vm delete "$tpu_name" --zone="$ZONE" --quiet "${project_flag[@]}"; }
  trap cleanup EXIT
fi
run gcloud compute tpus tpu-vm scp "$archive" "$tpu_name:videogan.tar.gz" --worker=all --zone="$ZONE" "${project_flag[@]}"
run gcloud compute tpus tpu-vm ssh "$tpu_name" --worker=all --zone="$ZONE" "${project_flag[@]}" --command="$remote"
run mkdir -p "$results"
run gcloud compute tpus tpu-vm scp "$tpu_name:$WORKDIR/samples" "$results" --recurse --worker=0 --zone="$ZONE" \
  "${project_flag[@]}"
