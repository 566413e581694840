r"""Wraps a JSON that a videogan command wrote with what, how, on what code and machine: a file for docs/results/.

  python docs/results/record.py --what "..." --command "python -m videogan.main ..." [--command ...] \
      [--wall_seconds S] [--note "..."] EVAL.json docs/results/NAME.json
"""

import argparse
import json
import os
import subprocess
from pathlib import Path


def machine() -> dict:
  cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
              if line.startswith("model name")), "unknown")
  return {"cpu": cpu, "cores": os.cpu_count(), "avx512": "avx512f" in Path("/proc/cpuinfo").read_text(),
          "accelerator": None}


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("source")
  parser.add_argument("target")
  parser.add_argument("--what", required=True)
  parser.add_argument("--command", action="append", required=True)
  parser.add_argument("--wall_seconds", type=float)
  parser.add_argument("--note")
  args = parser.parse_args()
  commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
  record = {"what": args.what, "commands": args.command, "code": f"the working tree at {commit}",
            "machine": machine()}
  if args.wall_seconds is not None:
    record["training"] = {"wall_seconds": round(args.wall_seconds), "note": args.note or ""}
  record.update(json.loads(Path(args.source).read_text()))
  Path(args.target).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
  main()
