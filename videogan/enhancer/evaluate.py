"""The enhancer's evaluation: PSNR / SSIM (RGB and Y) and flicker on the test videos, against bicubic."""

import json
from collections.abc import Callable
from pathlib import Path

import jax.numpy as jnp
import ml_collections
import numpy as np

from videogan import metrics, paths, video_io
from videogan.data import degrade, video_file, video_source
from videogan.enhancer import infer
from videogan.models.enhancer import upsample


def evaluation_pairs(config: ml_collections.ConfigDict, num_frames: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
  """(path, clean uint8 [T, H, W, 3], degraded [T, H/s, W/s, 3] in [-1, 1]) for each test-split video.

  The clean targets are each video's first `num_frames` (0: all)
  native-resolution frames, cropped to a multiple of the scale; the inputs
  their degraded, down-scaled versions (`config.eval_degrade`: fixed
  strengths, seeded noise), so every evaluation sees the same pairs.
  """
  s = config.model.scale
  pairs = []
  for i, path in enumerate(video_source.list_videos(config.data.folder, "test", config.data.eval_fraction).paths):
    info = video_file.probe(path)
    indices = np.arange(min(num_frames, info.num_frames)) if num_frames else None
    clean = video_file.read_frames(path, indices, (info.width, info.height), 3)
    clean = clean[:, : clean.shape[1] // s * s, : clean.shape[2] // s * s]
    pairs.append((path, clean, degrade.degrade_video(clean, s, config.eval_degrade, config.seed + i)))
  return pairs


def evaluate(config: ml_collections.ConfigDict, apply_params: Callable[[np.ndarray], np.ndarray],
             pairs: list[tuple[str, np.ndarray, np.ndarray]], image_dir: Path | None = None) -> dict:
  """Scores the enhancer on `evaluation_pairs`.

  Reports the mean over all frames of PSNR / SSIM (RGB and Y, see `metrics`)
  for the enhancer, for bicubic upsampling of the input (at scale 1: the
  input itself), and their flicker; per video too.
  """
  s, window = config.model.scale, config.model.window
  base = "bicubic" if s > 1 else "input"  # The baseline: bicubic upsampling, or at scale 1 the degraded input.
  totals, per_video = {}, {}
  for path, clean, degraded in pairs:
    output = np.concatenate(list(infer.enhance_stream(apply_params, degraded, window, config.eval.chunk)))
    baseline = np.asarray(upsample(jnp.asarray(degraded), s))
    to_unit = lambda v: (np.clip(v, -1.0, 1.0) + 1.0) / 2.0  # noqa: E731
    target = clean.astype(np.float32) / 255.0
    scores = {}
    for name, frames in (("model", to_unit(output)), (base, to_unit(baseline))):
      for metric, values in metrics.frame_scores(frames, target).items():
        scores[f"{name}_{metric}"] = np.asarray(values)
      scores[f"{name}_flicker"] = np.full(len(frames), float(metrics.flicker(frames, target)))
    per_video[path] = {k: float(v.mean()) for k, v in scores.items()}
    per_video[path]["frames"] = len(clean)
    for k, v in scores.items():
      totals.setdefault(k, []).append(v)
    if image_dir is not None:
      image_dir.mkdir(parents=True, exist_ok=True)
      t = len(clean) // 2
      row = np.concatenate([video_io.to_uint8(baseline[t]), video_io.to_uint8(output[t]), clean[t]], axis=1)
      video_io.write_image(image_dir / f"{Path(path).stem}_{base}_model_clean.png", row)
  report = {k: float(np.concatenate(v).mean()) for k, v in totals.items()}
  report["baseline"] = base
  report["gain_psnr_rgb"] = report["model_psnr_rgb"] - report[f"{base}_psnr_rgb"]
  report["gain_psnr_y"] = report["model_psnr_y"] - report[f"{base}_psnr_y"]
  report["videos"] = per_video
  report["recipe"] = {
      "scale": s, "eval_degrade": config.eval_degrade.to_dict(), "frames_per_video": [len(c) for _, c, _ in pairs],
      "pixels": "[0, 1], all pixels (no border shaved)", "y": "BT.601 (MATLAB rgb2ycbcr)",
      "ssim": "Gaussian sigma 1.5, K1 0.01, K2 0.03",
      "baseline": "bicubic (Keys a=-0.5) of the degraded input" if s > 1 else "the degraded input",
  }
  return report


def evaluate_checkpoint(workdir: paths.PathLike, step: int | None = None, num_frames: int = 0) -> dict:
  """`evaluate` for the checkpoint in `workdir` on all frames of the test videos; writes WORKDIR/eval_enhancer.json."""
  config, model, params = infer.load(workdir, step=step)
  apply = infer.make_apply_fn(model)
  report = evaluate(config, lambda w: apply(params, w), evaluation_pairs(config, num_frames),
                    paths.resolve(workdir) / "eval_images")
  paths.write_text_atomically(paths.resolve(workdir) / "eval_enhancer.json", json.dumps(report, indent=2))
  return report
