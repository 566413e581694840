r"""What writing the enhancer's output to a file costs: PSNR of the frames in memory against the file read back.

  python benchmarks/output_quality.py --workdir runs/enhancer_x2 [--folder CLIPS] [--crf 18 --crf 12 ...] [--json_out out.json]

For each test pair of the enhancer's own evaluation (`--mode eval_enhancer`'s
clean frames and degraded inputs), the model's output is scored against the
clean frames in memory (uint8, as a file would hold it), then written as mp4
(4:2:0 h264 at each --crf and at mediapy's default; lossless RGB h264, what an
--output mp4 gets without --crf) and as lossless mkv, read back and scored again. PSNR over all RGB pixels in dB; sizes in KiB.
"""

import json
import os
import tempfile

import mediapy
import numpy as np
from absl import app, flags

from videogan import video_io
from videogan.data import degrade
from videogan.enhancer import evaluate, infer

flags.DEFINE_string("workdir", None, "An enhancer's workdir.", required=True)
flags.DEFINE_multi_float("crf", [18, 12, 8, 4, 0], "h264 CRFs to try (besides mediapy's default).")
flags.DEFINE_integer("num_frames", 0, "Frames per test video (0: all).")
flags.DEFINE_string("folder", None, "Score the test/ videos of this folder (default: the run's data.folder).")
flags.DEFINE_enum("kind", "bicubic", list(degrade.EVAL_KINDS), "The degradation of the inputs.")
flags.DEFINE_string("json_out", None, "Also write the results here.")
FLAGS = flags.FLAGS


def psnr(frames: np.ndarray, target: np.ndarray) -> float:
  mse = np.mean((frames.astype(np.float64) - target.astype(np.float64)) ** 2)
  return float(10 * np.log10(255.0**2 / mse))


def main(argv) -> None:
  del argv
  video_io.use_bundled_ffmpeg()
  config, model, params = infer.load(FLAGS.workdir)
  if FLAGS.folder:
    config.data.folder = FLAGS.folder
  apply = infer.make_apply_fn(model)
  results = {"workdir": FLAGS.workdir, "what": "PSNR (RGB, all pixels, dB) against the clean frames", "videos": {}}
  results["kind"] = FLAGS.kind
  for path, clean, degraded in evaluate.evaluation_pairs(config, FLAGS.num_frames, FLAGS.kind):
    output = np.concatenate(list(infer.enhance_stream(lambda w: apply(params, w), degraded, config.model.window,
                                                      config.eval.chunk)))
    frames = video_io.to_uint8(output)
    row = {"frames": len(frames), "size": f"{frames.shape[2]}x{frames.shape[1]}", "in_memory": psnr(frames, clean)}
    with tempfile.TemporaryDirectory() as tmp:
      for name, suffix, crf, lossless in [
          ("mp4_mediapy_default", ".mp4", None, False), *[(f"mp4_crf{c:g}", ".mp4", c, False) for c in FLAGS.crf],
          ("mp4_crf0_yuv444", ".mp4", 0, False), ("mp4_output_default_lossless_rgb", ".mp4", None, True),
          ("mkv_lossless", ".mkv", None, False)]:
        file = os.path.join(tmp, name + suffix)
        if name == "mp4_crf0_yuv444":  # Full-resolution chroma, still YUV: what 4:2:0 alone costs.
          mediapy.write_video(file, video_io.rgb_even(frames), fps=25.0, codec="h264", crf=0, encoded_format="yuv444p")
        else:
          video_io.write_video(file, frames, 25.0, crf, lossless)
        back = video_io.read_video(file)[0][:, : frames.shape[1], : frames.shape[2]]
        row[name] = {"psnr": psnr(back, clean), "loss_db": row["in_memory"] - psnr(back, clean),
                     "kib": os.path.getsize(file) / 1024}
    results["videos"][os.path.basename(path)] = row
    print(json.dumps({os.path.basename(path): row}, indent=1), flush=True)
  if FLAGS.json_out:
    with open(FLAGS.json_out, "w") as f:
      json.dump(results, f, indent=2)


if __name__ == "__main__":
  app.run(main)
