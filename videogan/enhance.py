"""The enhancer's training, evaluation and jitted inference.

  train(config, workdir)                  # --mode train_enhancer (configs/enhancer.py)
  evaluate_checkpoint(workdir)            # --mode eval_enhancer: PSNR / SSIM / flicker vs bicubic
  enhance_video(workdir, "in.mp4", "out.mp4", scale=2)   # --mode enhance, streamed in chunks
  enhance_clips(workdir, clips)           # --enhance on sample / extend / animate

The train step (one pure function, like the GAN's) minimises the Charbonnier
loss (Lai et al. 2017), a smooth L1:

  L_rec = mean sqrt((f(y) - x)^2 + eps^2)      y degraded window, x clean centre frame

in [0, 1] pixel units, optionally plus w * L_G of a frame discriminator with the
seed's non-saturating losses (L_D = -[log D(x) + log(1 - D(f(y)))],
L_G = -log D(f(y))), D updated first as in the GAN step.

Inference treats a video as a stream: output frame t needs input frames
t - r .. t + r (clamped at the ends, r = window // 2), so frames are read,
enhanced `chunk` at a time and written, holding only chunk + 2r input frames.
"""

import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import flax
import jax
import jax.numpy as jnp
import mediapy
import ml_collections
import numpy as np
import optax
import tensorflow as tf
from absl import logging
from clu import metric_writers

from videogan import checkpoint, config_validation, losses, metrics, parallel, video_io
from videogan import train as train_lib
from videogan.conditional import InputError, check_output
from videogan.data import degrade, pipeline, video_file, video_source
from videogan.models.enhancer import SCALES, Enhancer, FrameDiscriminator, upsample

PyTree = object


@flax.struct.dataclass
class EnhancerState:
  """Enhancer params and optimizer state; the discriminator's when `adversarial_weight > 0` (else empty)."""

  step: jax.Array
  params: PyTree
  opt_state: optax.OptState
  d_params: PyTree
  d_stats: PyTree  # Spectral-norm power-iteration vectors.
  d_opt_state: optax.OptState
  tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
  d_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)


@dataclasses.dataclass(frozen=True)
class Models:
  model: Enhancer
  disc: FrameDiscriminator | None
  tx: optax.GradientTransformation
  d_tx: optax.GradientTransformation

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict) -> "Models":
    m = config.model
    model = Enhancer(scale=m.scale, features=m.features, num_blocks=m.num_blocks)
    disc = None
    if config.adversarial_weight > 0:
      disc = FrameDiscriminator(tuple(config.discriminator.widths), config.discriminator.spectral_norm)
    opt = config.optimizer
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, opt.learning_rate, opt.warmup_steps, config.total_steps, end_value=opt.learning_rate / 100)
    tx = optax.adam(schedule, b1=opt.b1, b2=opt.b2)
    d_tx = optax.adam(opt.d_learning_rate, b1=0.5, b2=0.999)
    return cls(model, disc, tx, d_tx)

  def init(self, rng: jax.Array, config: ml_collections.ConfigDict) -> EnhancerState:
    """A fresh state; pure, so it can be `eval_shape`d and jitted with out_shardings."""
    p = config.patch_size
    c = config.data.channels
    params = self.model.init(rng, jnp.zeros((1, config.model.window, p, p, c)))["params"]
    d_params, d_stats = {}, {}
    if self.disc is not None:
      hr = p * config.model.scale
      d_vars = self.disc.init(jax.random.fold_in(rng, 1), jnp.zeros((1, hr, hr, c)))
      d_params, d_stats = d_vars["params"], d_vars.get("batch_stats", {})
    return EnhancerState(
        step=jnp.zeros((), jnp.int32), params=params, opt_state=self.tx.init(params),
        d_params=d_params, d_stats=d_stats, d_opt_state=self.d_tx.init(d_params), tx=self.tx, d_tx=self.d_tx,
    )


def reconstruction_loss(output: jax.Array, target: jax.Array, kind: str, eps: float) -> jax.Array:
  """Charbonnier sqrt(e^2 + eps^2) or L1 |e| of e = output - target, in [0, 1] pixel units (inputs in [-1, 1])."""
  err = (output - target) / 2.0
  if kind == "l1":
    return jnp.mean(jnp.abs(err))
  return jnp.mean(jnp.sqrt(jnp.square(err) + eps**2))


def make_train_step(models: Models, config: ml_collections.ConfigDict):
  """`train_step(state, batch) -> (state, metrics)`; batch: "lr" [B, T, h, w, C], "hr" [B, H, W, C] in [-1, 1]."""
  model, disc = models.model, models.disc
  kind, eps, w = config.loss, config.charbonnier_eps, config.adversarial_weight
  d_gan_loss, g_gan_loss = losses.GAN_LOSSES["non_saturating"]

  def discriminate(d_params, d_stats, frames, update_stats):
    logits, mutated = disc.apply({"params": d_params, "batch_stats": d_stats}, frames, update_stats=update_stats,
                                 mutable=["batch_stats"])
    return logits, mutated["batch_stats"]

  def train_step(state: EnhancerState, batch):
    degraded, clean = batch["lr"], batch["hr"]
    # f(y), and the VJP from a gradient w.r.t. the output frames to one w.r.t. the params.
    output, vjp = jax.vjp(lambda params: model.apply({"params": params}, degraded), state.params)

    d_params, d_stats, d_opt_state, d_loss = state.d_params, state.d_stats, state.d_opt_state, jnp.zeros(())
    if disc is not None:
      # D step: descend L_D = -[log D(x) + log(1 - D(f(y)))] in D's params (f(y) a constant).
      def d_objective(d_params):
        logits, stats = discriminate(d_params, state.d_stats, jnp.concatenate([clean, output]), True)
        real, fake = jnp.split(logits, 2)
        return d_gan_loss(real, fake), stats

      (d_loss, d_stats), d_grads = jax.value_and_grad(d_objective, has_aux=True)(state.d_params)
      d_updates, d_opt_state = state.d_tx.update(d_grads, state.d_opt_state, state.d_params)
      d_params = optax.apply_updates(state.d_params, d_updates)

    # Enhancer step: descend L_rec (+ w L_G through the updated D) in the enhancer's params.
    def objective(output):
      rec = reconstruction_loss(output, clean, kind, eps)
      adv = g_gan_loss(discriminate(d_params, d_stats, output, False)[0]) if disc is not None else jnp.zeros(())
      return rec + w * adv, (rec, adv)

    (loss, (rec, adv)), loss_wrt_output = jax.value_and_grad(objective, has_aux=True)(output)
    (grads,) = vjp(loss_wrt_output)
    updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)

    # PSNR of the whole batch (patches without degradation make a per-patch PSNR infinite).
    batch_psnr = lambda v: -10.0 * jnp.log10(jnp.mean(jnp.square((jnp.clip(v, -1, 1) - clean) / 2)) + 1e-10)  # noqa: E731
    bicubic = upsample(degraded[:, degraded.shape[1] // 2], model.scale)
    new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state, d_params=d_params,
                              d_stats=d_stats, d_opt_state=d_opt_state)
    return new_state, {
        "loss": loss, "rec_loss": rec, "g_adv_loss": adv, "d_loss": d_loss,
        "psnr": batch_psnr(output), "psnr_bicubic": batch_psnr(bicubic),
        "grad_norm": optax.global_norm(grads),
    }

  return train_step


# ----------------------------------------------------------------------------- inference


def make_apply_fn(model: Enhancer, mesh: jax.sharding.Mesh | None = None) -> Callable[[PyTree, np.ndarray], np.ndarray]:
  """`apply(params, windows [N, T, h, w, C] in [-1, 1]) -> float32 [N, h*s, w*s, C]`, jitted, frames sharded over `mesh`.

  N is padded up to a multiple of the mesh's batch shards, so every chunk size
  compiles once.
  """
  mesh = mesh or parallel.make_mesh(ml_collections.ConfigDict({"data": -1}))
  batch, replicated = parallel.batch_sharding(mesh), parallel.replicated(mesh)
  shards = mesh.size
  fn = jax.jit(lambda params, x: model.apply({"params": params}, x), in_shardings=(replicated, batch),
               out_shardings=replicated)

  def apply(params, windows):
    n = len(windows)
    pad = -n % shards
    if pad:
      windows = np.concatenate([windows, np.repeat(windows[-1:], pad, axis=0)])
    return np.asarray(fn(params, np.asarray(windows, np.float32)))[:n]

  return apply


def enhance_stream(apply: Callable[[np.ndarray], np.ndarray], frames: Iterable[np.ndarray], window: int,
                   chunk: int) -> Iterator[np.ndarray]:
  """Enhances a stream of frames [h, w, C] in [-1, 1]; yields the outputs, `chunk` frames [n, H, W, C] at a time.

  Output t sees input frames t - r .. t + r, clamped to the video (the first
  and last frames repeat at the ends); at most `chunk + 2r` input frames are held.
  """
  r = window // 2
  frames = iter(frames)
  buffer, first = [], 0  # buffer[i] is input frame first + i.
  next_out, ended = 0, False
  while True:
    while not ended and first + len(buffer) < next_out + chunk + r:
      try:
        buffer.append(np.asarray(next(frames), np.float32))
      except StopIteration:
        ended = True
    total = first + len(buffer)  # Frames read so far (all of them once `ended`).
    n = min(chunk, total - next_out) if ended else chunk
    if n <= 0:
      return
    taps = np.arange(next_out, next_out + n)[:, None] + np.arange(-r, r + 1)[None, :]
    taps = np.clip(taps, 0, total - 1)  # Before the end, t + r < total already.
    yield apply(np.stack(buffer)[taps - first])
    next_out += n
    drop = max(0, next_out - r - first)
    buffer, first = buffer[drop:], first + drop


def _restore_dir(workdir: str | Path) -> Path:
  directory = checkpoint.checkpoint_dir(workdir)
  if not directory.is_dir() or not any(directory.iterdir()):
    raise InputError(f"No enhancer checkpoint in {directory}: train one with --mode train_enhancer "
                     f"--config configs/enhancer.py --workdir {workdir}.")
  return directory


def load(workdir: str | Path, scale: int | None = None, step: int | None = None):
  """The enhancer saved in `workdir`: (config, model, params). Its config comes from the checkpoint.

  Raises `InputError` for a missing checkpoint, a GAN checkpoint, or a model of
  another `scale`.
  """
  if scale is not None and scale not in SCALES:
    raise InputError(f"--scale={scale}: unsupported; expected one of {SCALES}.")
  directory = _restore_dir(workdir)
  ckpt = checkpoint.Checkpointer(directory, save_every=1, keep=1_000_000)
  try:
    config = ml_collections.ConfigDict(ckpt.restore_config(step))
    if "scale" not in config.model:
      raise InputError(f"{directory}: holds a GAN checkpoint, not an enhancer (--mode train_enhancer writes those).")
    if scale is not None and scale != config.model.scale:
      raise InputError(f"{directory}: the checkpoint is a x{config.model.scale} enhancer; --scale={scale} was asked "
                       f"(train a x{scale} model: --config.model.scale={scale}, or omit --scale).")
    models = Models.from_config(config)
    target = jax.eval_shape(lambda rng: models.init(rng, config), jax.random.key(0))
    mesh = parallel.make_mesh(ml_collections.ConfigDict({"data": -1}))
    target = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=parallel.replicated(mesh)), target)
    state, _ = ckpt.restore(target, step)
  finally:
    ckpt.close()
  return config, models.model, state.params


def _check_input(path: str | Path) -> video_file.VideoInfo:
  path = Path(path)
  if not path.is_file():
    raise InputError(f"--input={path}: no such file.")
  if path.suffix.lower() not in video_file.EXTENSIONS:
    raise InputError(f"--input={path}: expected a video ({', '.join(video_file.EXTENSIONS)}).")
  try:
    return video_file.probe(path)
  except video_file.VideoError as e:
    raise InputError(f"--input={path}: {e.reason}.") from None


def _uint8_frames(path: str | Path) -> Iterator[np.ndarray]:
  """Decoded RGB frames of `path`, one at a time (uint8 [H, W, 3])."""
  video_io.use_bundled_ffmpeg()
  with mediapy.VideoReader(path) as reader:
    yield from reader


def enhance_video(workdir: str | Path, input_path: str | Path, output_path: str | Path, scale: int | None = None,
                  step: int | None = None, chunk: int = 8) -> tuple[Path, int, float]:
  """Enhances the video `input_path` into `output_path` (mp4 or gif) at the same fps; returns (path, frames, fps).

  Streams: frames are decoded, enhanced and encoded `chunk` at a time. The
  output appears (atomically renamed) only once complete.
  """
  output_path = check_output(output_path)
  info = _check_input(input_path)
  config, model, params = load(workdir, scale, step)
  apply = make_apply_fn(model)
  s = config.model.scale
  height, width = info.height * s, info.width * s
  inputs = (f.astype(np.float32) / 127.5 - 1.0 for f in _uint8_frames(input_path))
  output_path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(suffix=output_path.suffix, dir=output_path.parent)
  os.close(fd)
  video_io.use_bundled_ffmpeg()
  count, t0 = 0, time.perf_counter()
  try:
    codec = "gif" if output_path.suffix == ".gif" else "h264"
    with mediapy.VideoWriter(tmp, shape=(height + height % 2, width + width % 2), fps=info.fps, codec=codec) as writer:
      for out in enhance_stream(lambda w: apply(params, w), inputs, config.model.window, chunk):
        for frame in video_io.rgb_even(video_io.to_uint8(out)):
          writer.add_image(frame)
        count += len(out)
        logging.log_every_n_seconds(logging.INFO, "Enhanced %d frames (%.1f frames/s).", 10, count,
                                    count / (time.perf_counter() - t0))
    if count == 0:
      raise InputError(f"--input={input_path}: no frames could be decoded.")
    os.replace(tmp, output_path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
  return output_path, count, info.fps


def enhance_clips(enhancer, clips: np.ndarray, chunk: int = 8) -> np.ndarray:
  """uint8 clips [N, T, H, W, C] (C = 1 or 3) -> enhanced uint8 [N, T, H*s, W*s, 3], each clip on its own.

  `enhancer` is what `load` returns.
  """
  config, model, params = enhancer
  apply = make_apply_fn(model)
  clips = np.asarray(clips)
  if clips.shape[-1] == 1:
    clips = np.repeat(clips, 3, axis=-1)
  out = []
  for clip in clips:
    frames = (f.astype(np.float32) / 127.5 - 1.0 for f in clip)
    out.append(video_io.to_uint8(np.concatenate(list(enhance_stream(lambda w: apply(params, w), frames,
                                                                    config.model.window, chunk)))))
  return np.stack(out)


# ----------------------------------------------------------------------------- evaluation


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
    output = np.concatenate(list(enhance_stream(apply_params, degraded, window, config.eval.chunk)))
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


def evaluate_checkpoint(workdir: str | Path, step: int | None = None, num_frames: int = 0) -> dict:
  """`evaluate` for the checkpoint in `workdir` on all frames of the test videos; writes WORKDIR/eval_enhancer.json."""
  config, model, params = load(workdir, step=step)
  apply = make_apply_fn(model)
  report = evaluate(config, lambda w: apply(params, w), evaluation_pairs(config, num_frames),
                    Path(workdir) / "eval_images")
  (Path(workdir) / "eval_enhancer.json").write_text(json.dumps(report, indent=2))
  return report


# ----------------------------------------------------------------------------- training


def make_dataset(config: ml_collections.ConfigDict, first_example: int, num_steps: int,
                 bad_files: video_source.BadFiles):
  """This process's batches of `batch_size / processes` (degraded, clean) patches, from clip `first_example` on."""
  clips_per_step = config.batch_size // config.patches_per_clip
  ds = pipeline.make_dataset(
      config, split="train", seed=config.seed, global_batch=clips_per_step, first_example=first_example,
      num_steps=num_steps, process_index=jax.process_index(), process_count=jax.process_count(),
      bad_files=bad_files, transform=degrade.make_pair_fn(config, config.seed),
  )
  # [clips, patches, ...] -> [clips * patches, ...]
  return ds.map(lambda b: {k: tf.reshape(b[k], [-1, *b[k].shape[2:]]) for k in ("lr", "hr")})


def train(config: ml_collections.ConfigDict, workdir: str | Path) -> EnhancerState:
  """Trains the enhancer of `config` in `workdir`, resuming from its latest checkpoint."""
  workdir = Path(workdir)
  config_validation.validate_enhancer(config)
  try:
    mesh = parallel.make_mesh(config.mesh)
  except ValueError as e:
    raise config_validation.ConfigError(str(e)) from e
  config_validation.validate_enhancer(config, mesh)
  pipeline.check_source(config)
  pipeline.check_source(config, "test")
  train_lib.check_workdir(workdir)
  models = Models.from_config(config)
  replicated, batch_sharding = parallel.replicated(mesh), parallel.batch_sharding(mesh)
  shapes = jax.eval_shape(lambda rng: models.init(rng, config), jax.random.key(0))
  state_sharding = jax.tree.map(lambda _: replicated, shapes)
  logging.info("Enhancer x%d: %d params; %d-frame windows; mesh %s.", config.model.scale,
               sum(x.size for x in jax.tree.leaves(shapes.params)), config.model.window, dict(mesh.shape))

  ckpt = checkpoint.Checkpointer(checkpoint.checkpoint_dir(workdir), save_every=config.checkpoint_every,
                                 keep=config.keep_checkpoints)
  if ckpt.latest_step() is not None:
    target = jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh), shapes, state_sharding)
    state, position = ckpt.restore(target)
    logging.info("Resumed from step %d in %s.", int(state.step), ckpt.directory)
  else:
    state = parallel.run_once(lambda rng: models.init(rng, config), jax.random.key(config.seed),
                              out_shardings=state_sharding)
    position = {"next_example": 0}
  start_step = int(state.step)
  if start_step >= config.total_steps:
    logging.info("Nothing to do: the checkpoint is at step %d >= total_steps=%d.", start_step, config.total_steps)
    ckpt.close()
    return state

  clips_per_step = config.batch_size // config.patches_per_clip
  bad_files = video_source.BadFiles()
  first_example = position["next_example"]
  batches = iter(make_dataset(config, first_example, config.total_steps - start_step, bad_files).as_numpy_iterator())
  train_step = jax.jit(make_train_step(models, config), in_shardings=(state_sharding, batch_sharding),
                       out_shardings=(state_sharding, replicated), donate_argnums=0)
  apply = make_apply_fn(models.model, mesh)
  is_main = jax.process_index() == 0
  writer = metric_writers.AsyncWriter(
      metric_writers.SummaryWriter(str(workdir)) if is_main else metric_writers.MultiWriter([]))
  if is_main and start_step == 0:
    (workdir / "config.json").write_text(config.to_json_best_effort(indent=2))

  pairs = evaluation_pairs(config, config.eval.num_frames)  # Decoded and degraded once for the whole run.

  def run_eval(step: int) -> None:
    report = evaluate(config, lambda w: apply(state.params, w), pairs,
                      image_dir=workdir / "eval" / f"step_{step:06d}" if is_main else None)
    scalars = {f"eval/{k}": v for k, v in report.items() if isinstance(v, float)}
    writer.write_scalars(step, scalars)
    base = report["baseline"]
    logging.info("eval step %d: PSNR-RGB %.2f dB (%s %.2f, %+.2f) | SSIM-Y %.4f (%s %.4f) | flicker %.4f",
                 step, report["model_psnr_rgb"], base, report[f"{base}_psnr_rgb"], report["gain_psnr_rgb"],
                 report["model_ssim_y"], base, report[f"{base}_ssim_y"], report["model_flicker"])

  window, window_start = [], time.perf_counter()
  try:
    for step in range(start_step + 1, config.total_steps + 1):
      batch = parallel.global_batch(next(batches), batch_sharding)
      state, step_metrics = train_step(state, batch)
      is_last = step == config.total_steps
      saving, logging_now = is_last or ckpt.should_save(step), is_last or step % config.log_every == 0
      evaluating = is_last or step % config.eval_every == 0
      if not (saving or logging_now or evaluating):
        window.append(step_metrics)
        continue
      window.append(step_metrics)
      window = jax.device_get(window)
      train_lib.check_finite(step, window[-1], ckpt)  # Nothing is logged or saved before this.
      if logging_now:
        steps_per_sec = len(window) / (time.perf_counter() - window_start)
        means = {k: float(np.mean([m[k] for m in window])) for k in window[0]}
        means.update(steps_per_sec=steps_per_sec, patches_per_sec=steps_per_sec * config.batch_size)
        writer.write_scalars(step, means)
        logging.info("step %d/%d | %.2f steps/s | loss %.4f | batch PSNR %.2f dB (bicubic/input %.2f)",
                     step, config.total_steps, steps_per_sec, means["loss"], means["psnr"], means["psnr_bicubic"])
        bad_files.log_new(logging)
        window = []
      if evaluating:
        run_eval(step)
      if saving:  # The data position: the next clip of the training stream.
        ckpt.save(state, {"next_example": first_example + (step - start_step) * clips_per_step}, config, force=is_last)
      if logging_now:
        window_start = time.perf_counter()
  finally:
    ckpt.wait()
    ckpt.close()
    writer.close()  # Flushes and closes; see train.py.
  return state

