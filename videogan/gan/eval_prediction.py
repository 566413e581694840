"""How well a prediction model continues real clips, against copying the last frame.

For evaluation clips x (frames 0..T-1) and a model that continues k given
frames, the prediction is y = G(z | x_0..x_{k-1}) from the EMA generator
(one window, frames k..T-1), in pixel values scaled to [0, 1]:

  MSE    = mean over clips, frames t >= k and pixels of (y_t - x_t)^2
  PSNR   = mean over clips and frames t >= k of 10 log10(1 / MSE_t)
  seam   = mean |y_k - x_{k-1}|  (the jump from the last given frame)
  inside = mean |y_t - y_{t-1}| for t > k  (frame-to-frame change within the prediction)

The baseline predicts y_t = x_{k-1} for every t >= k ("copy the last frame").
`real_step` is mean |x_t - x_{t-1}|, t >= k: the motion the data has.
"""

import json

import jax
import ml_collections
import numpy as np

from videogan import errors, paths
from videogan.data import pipeline
from videogan.gan import sample
from videogan.gan import state as state_lib
from videogan.models.gan import VideoGAN


def prediction_metrics(pred: np.ndarray, truth: np.ndarray, k: int) -> dict[str, float]:
  """The module docstring's numbers for `pred` and `truth` [N, T, H, W, C] in [0, 1]; frames < k are given."""
  err = (pred[:, k:].astype(np.float64) - truth[:, k:]) ** 2
  frame_mse = err.reshape(*err.shape[:2], -1).mean(-1)  # [N, T - k]
  return {
      "mse": float(frame_mse.mean()),
      "psnr": float(np.mean(10 * np.log10(1.0 / np.maximum(frame_mse, 1e-10)))),
      "seam": float(np.abs(pred[:, k].astype(np.float64) - truth[:, k - 1]).mean()),
      "inside": float(np.abs(np.diff(pred[:, k:].astype(np.float64), axis=1)).mean()) if pred.shape[1] > k + 1 else 0.0,
  }


def evaluate(config: ml_collections.ConfigDict, workdir: paths.PathLike, num_clips: int = 256, batch_size: int = 32,
             step: int | None = None) -> dict:
  """Scores the checkpoint's EMA generator on `num_clips` evaluation clips; writes and returns the report."""
  gan = VideoGAN.from_config(config)
  k = gan.context_frames
  if k < 1:
    raise errors.ConfigError(
        "config.model.context_frames=0: --mode eval_prediction needs a prediction model (context_frames >= 1).")
  state = state_lib.restore_from_workdir(config, workdir, gan, step)
  sample_fn = sample.make_sample_fn(gan)
  rng = jax.random.fold_in(jax.random.key(config.seed + 1), int(state.step))
  batches = pipeline.make_dataset(config, split="test", seed=config.seed, global_batch=batch_size,
                                  num_steps=-(-num_clips // batch_size), training=False)
  preds, truths = [], []
  for i, batch in enumerate(batches.as_numpy_iterator()):
    clips = sample_fn(state.ema_g_params, gan.latents(jax.random.fold_in(rng, i), batch_size), gan.conditioning(batch))
    preds.append((np.asarray(clips) + 1) / 2)
    truths.append((batch["video"] + 1) / 2)
  pred, truth = np.concatenate(preds)[:num_clips], np.concatenate(truths)[:num_clips]
  copy_last = np.concatenate([truth[:, :k], np.repeat(truth[:, k - 1 : k], truth.shape[1] - k, axis=1)], axis=1)
  report = {
      "step": int(state.step),
      "clips": int(len(truth)),
      "split": "test",
      "given_frames": k,
      "predicted_frames": int(truth.shape[1] - k),
      "model": prediction_metrics(pred, truth, k),
      "copy_last_frame": prediction_metrics(copy_last, truth, k),
      "real_step": float(np.abs(np.diff(truth[:, k - 1 :].astype(np.float64), axis=1)).mean()),
  }
  paths.write_text_atomically(paths.resolve(workdir) / "eval_prediction.json", json.dumps(report, indent=2))
  return report
