"""The enhancer's evaluation: PSNR / SSIM (RGB and Y) and flicker on the test videos, against bicubic.

`--mode eval_enhancer` scores each degradation kind of `config.eval.kinds` on its own
(`degrade.EVAL_KINDS`: how the test clips were made small or noisy), and measures the file a user gets
(`--mode enhance`'s default output, written and decoded) beside the frames in memory.
"""

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from videogan import metrics, paths, video_io
from videogan.data import degrade, video_file, video_source
from videogan.enhancer import infer
from videogan.models.enhancer import upsample


def degradation(config: ml_collections.ConfigDict, kind: str | None) -> ml_collections.ConfigDict:
  """`config.eval_degrade` changed as `degrade.EVAL_KINDS[kind]` says (None: unchanged)."""
  cfg = ml_collections.ConfigDict(config.eval_degrade.to_dict())
  for key, value in degrade.EVAL_KINDS[kind].items() if kind else ():
    cfg[key] = value
  return cfg


def evaluation_pairs(config: ml_collections.ConfigDict, num_frames: int,
                     kind: str | None = None) -> list[tuple[str, np.ndarray, np.ndarray]]:
  """(path, clean uint8 [T, H, W, 3], degraded [T, H/s, W/s, 3] in [-1, 1]) for each test-split video.

  The clean targets are each video's first `num_frames` (0: all)
  native-resolution frames, cropped to a multiple of the scale; the inputs
  their degraded, down-scaled versions (`config.eval_degrade`: fixed
  strengths, seeded noise; changed by `degrade.EVAL_KINDS[kind]`), so every evaluation sees the same pairs.
  """
  s, cfg = config.model.scale, degradation(config, kind)
  pairs = []
  for i, path in enumerate(video_source.list_videos(config.data.folder, "test", config.data.eval_fraction).paths):
    info = video_file.probe(path)
    indices = np.arange(min(num_frames, info.num_frames)) if num_frames else None
    clean = video_file.read_frames(path, indices, (info.width, info.height), 3)
    clean = clean[:, : clean.shape[1] // s * s, : clean.shape[2] // s * s]
    pairs.append((path, clean, degrade.degrade_video(clean, s, cfg, config.seed + i)))
  return pairs


def written_and_read(frames: np.ndarray, fps: float) -> np.ndarray:
  """uint8 frames after `--mode enhance`'s default mp4 output (video_io.writer_options) and decoding."""
  with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "output.mp4"
    video_io.write_video(path, frames, fps, lossless=True)
    return video_io.read_video(path)[0][:, : frames.shape[1], : frames.shape[2]]


def evaluate(config: ml_collections.ConfigDict, apply_params: Callable[[np.ndarray], np.ndarray],
             pairs: list[tuple[str, np.ndarray, np.ndarray]], image_dir: Path | None = None,
             files: bool = False) -> dict:
  """Scores the enhancer on `evaluation_pairs`.

  Reports the mean over all frames of PSNR / SSIM (RGB and Y, see `metrics`)
  for the enhancer, for bicubic and bilinear upsampling of the input (at scale
  1: the input itself), and their flicker; per video too. `files`: also the
  enhancer's output as the file `--mode enhance` writes by default, decoded
  ("file_" scores, and "file_loss_db", the PSNR-RGB it costs).
  """
  s, window = config.model.scale, config.model.window
  base = "bicubic" if s > 1 else "input"  # The baseline: bicubic upsampling, or at scale 1 the degraded input.
  totals, per_video = {}, {}
  for path, clean, degraded in pairs:
    output = np.concatenate(list(infer.enhance_stream(apply_params, degraded, window, config.eval.chunk)))
    baseline = np.asarray(upsample(jnp.asarray(degraded), s))
    target = clean.astype(np.float32) / 255.0
    # Scored as 8-bit frames, as every output is delivered.
    candidates = [("model", video_io.to_uint8(output)), (base, video_io.to_uint8(baseline))]
    if s > 1:
      *lead, h, w, c = degraded.shape
      bilinear = jax.image.resize(jnp.asarray(degraded), (*lead, h * s, w * s, c), method="linear")
      candidates.append(("bilinear", video_io.to_uint8(np.asarray(bilinear))))
    if files:
      candidates.append(("file", written_and_read(candidates[0][1], config.fps)))
    scores = {}
    for name, frames in candidates:
      frames = frames.astype(np.float32) / 255.0
      for metric, values in metrics.frame_scores(frames, target).items():
        scores[f"{name}_{metric}"] = np.asarray(values)
      scores[f"{name}_flicker"] = np.full(len(frames), float(metrics.flicker(frames, target)))
    per_video[path] = {k: float(v.mean()) for k, v in scores.items()}
    per_video[path]["frames"] = len(clean)
    per_video[path]["gain_psnr_rgb"] = per_video[path]["model_psnr_rgb"] - per_video[path][f"{base}_psnr_rgb"]
    if files:
      per_video[path]["file_loss_db"] = per_video[path]["model_psnr_rgb"] - per_video[path]["file_psnr_rgb"]
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
  if files:
    report["file_loss_db"] = report["model_psnr_rgb"] - report["file_psnr_rgb"]
    report["file_gain_psnr_rgb"] = report["file_psnr_rgb"] - report[f"{base}_psnr_rgb"]
  report["videos"] = per_video
  report["recipe"] = {
      "scale": s, "eval_degrade": config.eval_degrade.to_dict(), "frames_per_video": [len(c) for _, c, _ in pairs],
      "outputs": "8-bit frames; file: " + (json.dumps(video_io.writer_options(".mp4", lossless=True)) if files
                                           else "not measured"),
      "pixels": "[0, 1], all pixels (no border shaved)", "y": "BT.601 (MATLAB rgb2ycbcr)",
      "ssim": "Gaussian sigma 1.5, K1 0.01, K2 0.03",
      "baseline": "bicubic (Keys a=-0.5) of the degraded input" if s > 1 else "the degraded input",
  }
  return report


def evaluate_checkpoint(workdir: paths.PathLike, step: int | None = None, num_frames: int = 0,
                        kinds: tuple[str, ...] | None = None, folder: str | None = None) -> dict:
  """`evaluate` for the checkpoint in `workdir` on all frames of the test videos, for each degradation kind
  (`kinds`, default `config.eval.kinds`), with the output files; writes WORKDIR/eval_enhancer.json.

  The top-level scores are the first kind's; `report["kinds"][kind]` holds each kind's report.
  `folder`: score the videos of its test split instead of those of the run's `data.folder`.
  """
  config, model, params = infer.load(workdir, step=step)
  if folder is not None:
    config.data.folder = folder
  kinds = tuple(kinds or config.eval.kinds)
  unknown = [k for k in kinds if k not in degrade.EVAL_KINDS]
  if unknown:
    raise ValueError(f"eval.kinds: unknown degradation(s) {unknown}; expected some of {tuple(degrade.EVAL_KINDS)}.")
  apply = infer.make_apply_fn(model)
  reports = {}
  for kind in kinds:
    pairs = evaluation_pairs(config, num_frames, kind)
    reports[kind] = evaluate(config, lambda w: apply(params, w), pairs,
                             paths.resolve(workdir) / "eval_images" / kind, files=True)
    reports[kind]["recipe"]["eval_degrade"] = degradation(config, kind).to_dict()
  report = {**reports[kinds[0]], "kinds": reports}
  paths.write_text_atomically(paths.resolve(workdir) / "eval_enhancer.json", json.dumps(report, indent=2))
  return report
