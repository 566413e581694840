#!/usr/bin/env bash
# Runs videogan as N processes on this machine, each with D fake CPU devices,
# joined by jax.distributed (gloo collectives over localhost). This is the
# multi-host code path of a TPU pod or GPU cluster (per-process data shards,
# global arrays, sharded Orbax checkpoints) on one laptop.
#
#   launch/local_multiprocess.sh [-n PROCESSES] [-d DEVICES_PER_PROCESS] [-p PORT] [--dry-run] \
#       -- --config configs/moving_mnist.py:tiny --workdir /tmp/mp
#
# Everything after `--` goes to `python -m videogan.main` in every process.
# Process 0 writes to this terminal; process i > 0 to $LOG_DIR/process_i.log
# (default ./multiprocess_logs). --dry-run prints the commands only.
# Ctrl-C (or SIGTERM) stops all processes. Exits non-zero if any process fails.
set -euo pipefail

num_processes=2
devices=2
port=12355
dry_run=0
log_dir="${LOG_DIR:-multiprocess_logs}"
python="${PYTHON:-python}"

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) num_processes="$2"; shift 2 ;;
    -d) devices="$2"; shift 2 ;;
    -p) port="$2"; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage 0 ;;
    --) shift; break ;;
    *) echo "local_multiprocess.sh: unknown option $1 (arguments for videogan go after --)" >&2; usage 2 ;;
  esac
done
[[ $# -gt 0 ]] || { echo "local_multiprocess.sh: give videogan's arguments after --" >&2; exit 2; }

commands=()
for ((i = 0; i < num_processes; i++)); do
  commands+=("env JAX_PLATFORMS=cpu JAX_NUM_CPU_DEVICES=$devices $python -m videogan.main \
--coordinator_address localhost:$port --num_processes $num_processes --process_id $i $(printf '%q ' "$@")")
done

if [[ $dry_run == 1 ]]; then
  printf '%s\n' "${commands[@]}"
  exit 0
fi

mkdir -p "$log_dir"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; }
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

for ((i = 0; i < num_processes; i++)); do
  if [[ $i == 0 ]]; then
    bash -c "exec ${commands[$i]}" &
  else
    bash -c "exec ${commands[$i]}" >"$log_dir/process_$i.log" 2>&1 &
  fi
  pids+=($!)
done

status=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    echo "local_multiprocess.sh: process $i failed (log: $([[ $i == 0 ]] && echo stdout || echo "$log_dir/process_$i.log"))" >&2
    status=1
  fi
done
exit $status
