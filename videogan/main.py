r"""Command-line entry point: parses flags and calls the library.

  python -m videogan.main --config configs/moving_mnist.py --workdir /tmp/mmnist
  python -m videogan.main --config configs/moving_mnist.py --workdir /tmp/mmnist --mode sample
  python -m videogan.main --config configs/ucf101.py --mode compile   # memory and FLOPs only
  python -m videogan.main --mode enhance --workdir runs/enhancer_x2 --input in.mp4 --output out.mp4

Override any config value with `--config.KEY=VALUE` (e.g. `--config.batch_size=32`);
unknown keys are rejected.
"""

import json
import logging as std_logging
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from videogan import errors

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config", None, "Path to a config file (optionally `path:variant`). sample/extend/animate/eval/eval_prediction: "
    "optional, the config saved with the checkpoint by default.", lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, summaries and samples (train and sample modes).")
flags.DEFINE_enum(
    "mode", "train",
    ["train", "sample", "extend", "animate", "eval", "eval_prediction", "compile", "train_enhancer", "enhance",
     "eval_enhancer"],
    "train: train (resuming if possible); sample: write clips from the latest checkpoint; "
    "extend: continue --input video to --seconds; animate: bring --input still image to life for --seconds; "
    "eval: FVD of the latest (or --step) checkpoint, with its recipe (WORKDIR/fvd_step_N.json); "
    "eval_prediction: score a prediction model against copying the last frame (WORKDIR/eval_prediction.json); "
    "compile: build the sharded train step ahead of time and print its memory and FLOPs, without data; "
    "train_enhancer: train the enhancement network (configs/enhancer.py); "
    "enhance: denoise/sharpen/super-resolve --input video into --output with the enhancer in --workdir; "
    "eval_enhancer: PSNR/SSIM/flicker of the enhancer in --workdir vs bicubic and bilinear, per degradation kind, "
    "in memory and as the written file (WORKDIR/eval_enhancer.json).",
)
flags.DEFINE_string("output_dir", None, "--mode sample: where to write (default WORKDIR/sample_output).")
flags.DEFINE_integer("step", None, "sample/extend/animate: checkpoint step to load (default: the latest).")
flags.DEFINE_string("input", None, "--mode extend: a video; --mode animate: a still image; --mode eval_enhancer: a "
                    "folder whose test/ videos to score (default: the run's data.folder).")
flags.DEFINE_string("output", None, "extend/animate/enhance: the mp4, gif or mkv (lossless) to write.")
flags.DEFINE_float("crf", None, "extend/animate/enhance: an mp4 --output as 4:2:0 h264 at this quality (x264's CRF: "
                   "lower is better; small files browsers play); without it the mp4 is lossless RGB h264 (plays in "
                   "VLC, mpv, ffmpeg). An .mkv --output is lossless (FFV1).")
flags.DEFINE_float("seconds", None, "extend/animate: length of the output video in seconds (at config.fps).")
flags.DEFINE_enum("extend_from", "end", ["end", "training_part"],
                  "--mode extend: continue the whole --input (end), or only its part a one-video run trains on "
                  "(all but the last data.holdout_fraction), to compare with the held-out end.")
flags.DEFINE_integer("label", None, "Class-conditional models: the class to generate.")
flags.DEFINE_integer("num_clips", 256, "--mode eval_prediction: evaluation clips to score.")
flags.DEFINE_integer("scale", None, "--mode enhance: the enhancer's scale (1, 2 or 4); checked against the checkpoint.")
flags.DEFINE_string("enhance", None, "sample/extend/animate: an enhancer's workdir; generated clips go through it.")
flags.DEFINE_enum(
    "distributed", "auto", ["auto", "on", "off"],
    "Multi-process start-up (jax.distributed.initialize). auto: when --coordinator_address is given or the job "
    "was launched as several processes by Slurm srun, Open MPI or on a GKE TPU slice; on: always, letting "
    "JAX detect the cluster (use it on Cloud TPU VM pod slices); off: never.",
)
flags.DEFINE_string("coordinator_address", None, "host:port of process 0, for clusters JAX cannot detect.")
flags.DEFINE_integer("num_processes", None, "With --coordinator_address: the number of processes.")
flags.DEFINE_integer("process_id", None, "With --coordinator_address: this process's index.")
_CONFIG_MODES = ("train", "compile", "train_enhancer")  # The others read the config saved with the checkpoint.


class _QuietLibraries(std_logging.Filter):
  """Keeps warnings and errors of chatty libraries (Orbax logs each save phase at INFO)."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    return record.levelno >= std_logging.WARNING or not any(f"/{lib}/" in record.pathname for lib in ("orbax", "jax"))


def main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  if FLAGS.config is None and FLAGS.mode in _CONFIG_MODES:
    raise app.UsageError(f"--config is required with --mode {FLAGS.mode}.")
  if FLAGS.workdir is None and FLAGS.mode != "compile":
    raise app.UsageError(f"--workdir is required with --mode {FLAGS.mode}.")
  needed = {"extend": ("input", "output", "seconds"), "animate": ("input", "output", "seconds"),
            "enhance": ("input", "output")}.get(FLAGS.mode, ())
  if needed:
    missing = [f"--{name}" for name in needed if getattr(FLAGS, name) is None]
    if missing:
      raise app.UsageError(f"--mode {FLAGS.mode} needs {', '.join(missing)}.")
  logging.get_absl_handler().addFilter(_QuietLibraries())
  # Imported here so `--help` is fast and TF never claims an accelerator.
  import tensorflow as tf

  tf.config.set_visible_devices([], "GPU")

  from videogan import parallel

  try:
    if FLAGS.mode in ("train", "train_enhancer") and not parallel.wants_distributed(FLAGS.distributed,
                                                                                     FLAGS.coordinator_address):
      devices = parallel.split_cpu_cores(FLAGS.config)  # Before JAX starts.
      if devices:
        logging.info("The batch splits over %d CPU devices (config.cpu_devices; JAX_NUM_CPU_DEVICES wins).", devices)
    parallel.initialize_distributed(FLAGS.distributed, FLAGS.coordinator_address, FLAGS.num_processes,
                                    FLAGS.process_id)
    run(FLAGS.mode, FLAGS.config)
  except (errors.Error, OSError) as e:
    # Errors about the user's inputs: the message says what to fix, a traceback would bury it.
    sys.exit(f"videogan: error: {e}")


def run(mode: str, config) -> None:
  """Runs `mode` with the parsed flags; each mode is one library call."""
  from videogan import config_validation, video_io
  from videogan.enhancer import evaluate as enhancer_eval
  from videogan.enhancer import infer
  from videogan.enhancer import task as enhancer_task

  if mode == "train_enhancer":
    enhancer_task.train(config, FLAGS.workdir)
    return
  if mode == "enhance":
    path, frames, fps = infer.enhance_video(FLAGS.workdir, FLAGS.input, FLAGS.output, FLAGS.scale, FLAGS.step,
                                            crf=FLAGS.crf)
    logging.info("Wrote %s: %d frames at %g fps.", path, frames, fps)
    return
  if mode == "eval_enhancer":
    report = enhancer_eval.evaluate_checkpoint(FLAGS.workdir, FLAGS.step, folder=FLAGS.input)
    for kind, scores in report["kinds"].items():
      print(json.dumps({"kind": kind, **{k: v for k, v in scores.items() if k not in ("videos", "recipe")}}))
    return

  from videogan.gan import conditional, eval_prediction, load, sample, task

  if config is None:  # The run's own config, as saved with its checkpoint.
    config = load.config_from_workdir(FLAGS.workdir, FLAGS.step)
  postprocess = None
  if FLAGS.enhance is not None:  # Loaded first: a bad enhancer fails before anything is generated.
    enhancer = infer.load(FLAGS.enhance)
    postprocess = lambda clips: infer.enhance_clips(enhancer, clips)  # noqa: E731
  config_validation.validate(config)
  if mode == "train":
    task.train_and_evaluate(config, FLAGS.workdir)
  elif mode == "compile":
    task.compile_only(config)
  elif mode in ("extend", "animate"):
    job = conditional.extend if mode == "extend" else conditional.animate
    video_io.check_output(FLAGS.output)
    extra = {"from_training_part": FLAGS.extend_from == "training_part",
             "report_path": f"{FLAGS.output}.json"} if mode == "extend" else {}
    frames = job(config, FLAGS.workdir, FLAGS.input, FLAGS.seconds, label=FLAGS.label, step=FLAGS.step, **extra)
    if postprocess is not None:
      frames = postprocess(frames[None])[0]
    path = video_io.write_video_atomically(FLAGS.output, frames, config.fps, FLAGS.crf)
    logging.info("Wrote %s: %d frames at %g fps (%.1f s).", path, len(frames), config.fps, len(frames) / config.fps)
  elif mode == "eval":
    from videogan.gan import evaluate

    report = evaluate.fvd_of_checkpoint(config, FLAGS.workdir, FLAGS.step)
    print(json.dumps(report, indent=2, default=str))
  elif mode == "eval_prediction":
    report = eval_prediction.evaluate(config, FLAGS.workdir, FLAGS.num_clips, step=FLAGS.step)
    logging.info("Prediction at step %d on %d test clips: %s", report["step"], report["clips"], report)
    print(json.dumps(report, indent=2))
  else:
    for path in sample.sample_from_checkpoint(config, FLAGS.workdir, FLAGS.output_dir, FLAGS.step, FLAGS.label,
                                              postprocess):
      logging.info("Wrote %s", path)


def packaged_configs(argv: list[str]) -> list[str]:
  """`--config NAME[.py][:variant]` (or `configs/NAME.py`) that is no file here -> the installed package's config.

  So the README's `--config configs/moving_mnist.py` works outside a checkout, and `--config moving_mnist:tiny` anywhere.
  """
  import os

  from videogan import configs

  out = list(argv)
  for i, arg in enumerate(argv):
    if arg == "--config" and i + 1 < len(argv):
      where, value, prefix = i + 1, argv[i + 1], ""
    elif arg.startswith("--config="):
      where, value, prefix = i, arg.removeprefix("--config="), "--config="
    else:
      continue
    path, colon, variant = value.partition(":")
    if os.path.exists(path):
      continue
    name = os.path.basename(path).removesuffix(".py")
    packaged = os.path.join(os.path.dirname(configs.__file__), f"{name}.py")
    if os.path.exists(packaged):
      out[where] = f"{prefix}{packaged}{colon}{variant}"
  return out


def console_script() -> None:
  """The `videogan` command that `pip install` puts on PATH: the same flags as `python -m videogan.main`."""
  for flag in FLAGS.get_key_flags_for_module(__name__):  # --help lists the main module's flags: these.
    FLAGS.register_key_flag_for_module(sys.argv[0], flag)
  sys.modules["__main__"].__doc__ = __doc__  # And its docstring as the usage text.
  try:
    app.run(main, argv=packaged_configs(sys.argv))
  except SystemExit as e:  # absl exits 1 after printing --help; asked-for help is a success.
    if e.code == 1 and {"--help", "-h", "-?", "--helpshort", "--helpfull"} & set(sys.argv[1:]):
      sys.exit(0)
    raise


if __name__ == "__main__":
  app.run(main, argv=packaged_configs(sys.argv))
