"""The enhancement network: layers, metrics and degradations against outside references; the CLI end to end."""

import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage
import skimage.color
import skimage.metrics
import tensorflow as tf

from tests.conftest import REPO, assert_close_to, load_config, run_cli
from tests.video_helpers import counter_frames, write_video
from videogan import errors, metrics
from videogan.data import degrade, sample_clips, video_file
from videogan.enhancer import evaluate as enhancer_eval
from videogan.enhancer import infer
from videogan.enhancer import state as enhancer_state
from videogan.enhancer import step as enhancer_step
from videogan.models import enhancer as enhancer_lib

ENHANCER_TINY = f"{REPO / 'configs' / 'enhancer.py'}:tiny"


def enhancer_config(variant="tiny"):
  sys.path.insert(0, str(REPO / "configs"))
  try:
    import enhancer
  finally:
    sys.path.pop(0)
  return enhancer.get_config(variant)


def perturbed_params(model, frames, seed=0):
  """Init params with the zero-initialised last conv made non-zero (so the model is not plain bicubic)."""
  params = model.init(jax.random.key(seed), frames)["params"]
  kernel = params["to_pixels"]["kernel"]
  params["to_pixels"]["kernel"] = 0.05 * jax.random.normal(jax.random.key(seed + 1), kernel.shape)
  return params


# ------------------------------------------------------------------ model


def test_depth_to_space_matches_tensorflow():
  x = np.random.default_rng(0).standard_normal((2, 3, 5, 4 * 3)).astype(np.float32)
  np.testing.assert_array_equal(enhancer_lib.depth_to_space(jnp.asarray(x), 2), tf.nn.depth_to_space(x, 2).numpy())


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_shapes_and_untrained_model_is_bicubic(scale):
  model = enhancer_lib.Enhancer(scale=scale, features=8, num_blocks=1)
  frames = jax.random.uniform(jax.random.key(0), (2, 3, 6, 10, 3), minval=-1, maxval=1)
  params = model.init(jax.random.key(1), frames)["params"]
  out = model.apply({"params": params}, frames)
  assert out.shape == (2, 6 * scale, 10 * scale, 3)
  # The residual starts at zero: the output is bicubic upsampling of the centre frame.
  expected = frames[:, 1] if scale == 1 else jax.image.resize(frames[:, 1], (2, 6 * scale, 10 * scale, 3), "bicubic")
  np.testing.assert_allclose(out, expected, atol=1e-6)
  # A trained (here: perturbed) model uses the neighbours too.
  params = perturbed_params(model, frames)
  moved = frames.at[:, 0].add(0.5)
  assert not np.allclose(model.apply({"params": params}, moved), model.apply({"params": params}, frames))


# ------------------------------------------------------------------ metrics (vs scikit-image and by hand)


def test_psnr_ssim_and_luma_match_scikit_image():
  rng = np.random.default_rng(0)
  clean = rng.random((3, 40, 52, 3)).astype(np.float32)
  noisy = np.clip(clean + 0.08 * rng.standard_normal(clean.shape), 0, 1).astype(np.float32)
  ssim_ref = [skimage.metrics.structural_similarity(noisy[i], clean[i], channel_axis=-1, gaussian_weights=True,
                                                    sigma=1.5, use_sample_covariance=False, data_range=1.0)
              for i in range(3)]
  psnr_ref = [skimage.metrics.peak_signal_noise_ratio(clean[i], noisy[i], data_range=1.0) for i in range(3)]
  np.testing.assert_allclose(metrics.ssim(noisy, clean), ssim_ref, rtol=1e-5)
  np.testing.assert_allclose(metrics.psnr(noisy, clean), psnr_ref, rtol=1e-5)
  # Y of BT.601 as MATLAB: skimage's rgb2ycbcr gives Y in [16, 235].
  np.testing.assert_allclose(np.asarray(metrics.rgb_to_y(clean))[..., 0] * 255, skimage.color.rgb2ycbcr(clean)[..., 0],
                             atol=1e-3)
  y_ref = [skimage.metrics.structural_similarity(
      skimage.color.rgb2ycbcr(noisy[i])[..., 0] / 255, skimage.color.rgb2ycbcr(clean[i])[..., 0] / 255,
      gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0) for i in range(3)]
  np.testing.assert_allclose(metrics.frame_scores(noisy, clean)["ssim_y"], y_ref, rtol=1e-4)


def test_psnr_and_flicker_by_hand():
  clean = np.full((4, 16, 16, 3), 0.5, np.float32)
  assert float(metrics.psnr(clean + 0.1, clean)[0]) == pytest.approx(20.0, abs=1e-4)  # 10 log10(1 / 0.01)
  assert float(metrics.ssim(clean, clean)[0]) == pytest.approx(1.0)
  flashing = clean.copy()
  flashing[1::2] = 0.7  # Changes by 0.2 between every pair of frames; the truth is still.
  # A float32 mean of 2304 values: XLA's summation order moves it by a few 1e-6
  # (0.2000042 with the tests' xla_cpu_use_fusion_emitters=false, conftest.py).
  assert float(metrics.flicker(flashing, clean)) == pytest.approx(0.2, abs=2e-5)
  assert float(metrics.flicker(clean, clean)) == 0.0


# ------------------------------------------------------------------ degradations


def test_blur_matches_scipy_and_noise_has_its_std():
  frames = np.random.default_rng(0).random((2, 30, 34, 3)).astype(np.float32)
  sigma = 1.3
  blurred = degrade.gaussian_blur(tf.constant(frames), tf.constant(sigma), 10).numpy()
  # TF's REFLECT padding is scipy's "mirror"; a 21-tap kernel is truncate = 10 / sigma.
  expected = scipy.ndimage.gaussian_filter(frames, sigma=(0, sigma, sigma, 0), mode="mirror", truncate=10 / sigma)
  np.testing.assert_allclose(blurred, expected, atol=1e-5)
  np.testing.assert_allclose(degrade.gaussian_blur(tf.constant(frames), tf.constant(0.0), 10).numpy(), frames,
                             atol=1e-6)

  grey = np.full((3, 64, 64, 3), 0.5, np.float32)
  params = {"blur": tf.constant(0.0), "noise": tf.constant(0.1), "peak": tf.constant(0.0), "quality": tf.constant(0),
            "resize": tf.constant(2), "antialias": tf.constant(True)}
  seed = tf.constant([1, 2], tf.int64)
  noisy = degrade.degrade(tf.constant(grey), 1, params, seed).numpy()
  assert abs(noisy.std() - 0.1) < 0.003 and abs(noisy.mean() - 0.5) < 0.003
  np.testing.assert_array_equal(noisy * 255, np.round(noisy * 255))  # 8-bit levels, like decoded video.
  np.testing.assert_array_equal(noisy, degrade.degrade(tf.constant(grey), 1, params, seed).numpy())  # Seeded.
  assert degrade.degrade(tf.constant(grey), 2, params, seed).shape == (3, 32, 32, 3)
  # JPEG at quality 10 changes a textured frame; quality 0 means none.
  jpeg = {**params, "noise": tf.constant(0.0), "quality": tf.constant(10)}
  texture = np.round(frames[:1] * 255) / 255
  assert np.abs(degrade.degrade(tf.constant(texture), 1, jpeg, seed).numpy() - texture).mean() > 0.05
  np.testing.assert_allclose(
      degrade.degrade(tf.constant(texture), 1, {**jpeg, "quality": tf.constant(0)}, seed).numpy(), texture, atol=1e-6)


def test_down_scaling_filters_match_references_and_are_drawn_from_the_config():
  """Area: the mean of each 2x2 block; anti-aliased bicubic: PIL's (Keys a=-0.5, support scaled by the factor);
  plain bilinear at x2 also averages 2x2 blocks (it samples half-way between pixels); plain bicubic differs
  from the anti-aliased one. Each patch draws its filter from `degrade.resize`."""
  from PIL import Image

  frames = np.round(np.random.default_rng(0).random((1, 32, 40, 3)) * 255).astype(np.float32) / 255
  blocks = frames.reshape(1, 16, 2, 20, 2, 3).mean(axis=(2, 4))

  def down(method, antialias):
    params = {"blur": tf.constant(0.0), "noise": tf.constant(0.0), "peak": tf.constant(0.0),
              "quality": tf.constant(0), "resize": tf.constant(degrade.RESIZE_METHODS.index(method)),
              "antialias": tf.constant(antialias)}
    return degrade.degrade(tf.constant(frames), 2, params, tf.constant([1, 2], tf.int64)).numpy()

  half = 0.5 / 255 + 1e-6  # The output is rounded to 8-bit levels.
  np.testing.assert_allclose(down("area", False), blocks, atol=half)
  np.testing.assert_allclose(down("bilinear", False), blocks, atol=half)
  pil = np.stack([np.asarray(Image.fromarray(frames[0, ..., c]).resize((20, 16), Image.BICUBIC)) for c in range(3)], -1)
  np.testing.assert_allclose(down("bicubic", True)[0], np.clip(pil, 0, 1), atol=half + 2e-3)
  assert np.abs(down("bicubic", False) - down("bicubic", True)).mean() > 0.01

  cfg = enhancer_config().degrade
  drawn = [degrade.sample_params(cfg, tf.constant([i, 0], tf.int64)) for i in range(300)]
  counts = np.bincount([int(p["resize"]) for p in drawn], minlength=3)
  assert all(70 < n < 130 for n in counts), counts  # Uniform over ("area", "bilinear", "bicubic").
  assert 0.4 < np.mean([bool(p["antialias"]) for p in drawn]) < 0.6
  bicubic = enhancer_config("bicubic").degrade
  assert {(int(p["resize"]), bool(p["antialias"])) for p in
          (degrade.sample_params(bicubic, tf.constant([i, 0], tf.int64)) for i in range(50))} == {(2, True)}


def test_pairs_are_deterministic_patches_of_the_clip():
  config = enhancer_config()
  config.model.scale, config.patch_size = 1, 16
  for kind in ("blur", "noise", "poisson", "jpeg"):
    config.degrade[f"{kind}_prob"] = 0.0
  clip = {"video": tf.constant(counter_frames(3, 32))}
  pair_fn = degrade.make_pair_fn(config, seed=0)
  pairs = pair_fn(tf.constant(5, tf.int64), clip)
  assert pairs["lr"].shape == (2, 3, 16, 16, 3) and pairs["hr"].shape == (2, 16, 16, 3)
  # Without degradations (scale 1) the input's centre frame is the clean target.
  np.testing.assert_allclose(pairs["lr"][:, 1], pairs["hr"], atol=1e-6)
  again = pair_fn(tf.constant(5, tf.int64), clip)
  np.testing.assert_array_equal(pairs["lr"], again["lr"])

  config = enhancer_config()  # x2 with the training degradations.
  pairs = degrade.make_pair_fn(config, seed=0)(tf.constant(5, tf.int64), clip)
  assert pairs["lr"].shape == (2, 3, 8, 8, 3) and pairs["hr"].shape == (2, 16, 16, 3)
  assert -1 <= float(tf.reduce_min(pairs["lr"])) and float(tf.reduce_max(pairs["lr"])) <= 1


# ------------------------------------------------------------------ streaming inference


def test_chunked_processing_equals_whole_clip_and_a_direct_computation():
  model = enhancer_lib.Enhancer(scale=2, features=8, num_blocks=1)
  frames = np.asarray(jax.random.uniform(jax.random.key(0), (7, 6, 10, 3), minval=-1, maxval=1))
  params = perturbed_params(model, frames[None, :3])
  apply = infer.make_apply_fn(model)
  whole = np.concatenate(list(infer.enhance_stream(lambda w: apply(params, w), iter(frames), 3, chunk=7)))
  # Direct: output t from frames (t-1, t, t+1), the first and last repeated at the ends.
  windows = np.stack([frames[[max(t - 1, 0), t, min(t + 1, 6)]] for t in range(7)])
  np.testing.assert_allclose(whole, model.apply({"params": params}, windows), atol=1e-5)
  for chunk in (1, 2, 3):
    chunks = list(infer.enhance_stream(lambda w: apply(params, w), iter(frames), 3, chunk=chunk))
    assert max(len(c) for c in chunks) == chunk
    np.testing.assert_allclose(np.concatenate(chunks), whole, atol=1e-5)


# ------------------------------------------------------------------ training and the CLI


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
  return sample_clips.link_clips(tmp_path_factory.mktemp("clips"))


@pytest.fixture(scope="module")
def tiny_workdir(tmp_path_factory, clips):
  workdir = tmp_path_factory.mktemp("enhancer")
  proc = run_cli("--mode", "train_enhancer", "--config", ENHANCER_TINY, f"--config.data.folder={clips}",
                 "--workdir", str(workdir))
  return workdir, proc


def test_train_enhancer_writes_checkpoints_evals_and_resumes(tiny_workdir, clips, tmp_path):
  workdir, proc = tiny_workdir
  assert sorted(p.name for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()) == ["2", "4"]
  assert "step 4/4" in proc.stderr and "eval step 4: PSNR-RGB" in proc.stderr
  assert (workdir / "eval" / "step_000004" / "carphone_bicubic_model_clean.png").stat().st_size > 0
  position = json.loads((workdir / "checkpoints" / "4" / "data" / "metadata").read_text())
  assert position == {"next_example": 4 * 2, "global_batch": 2}  # 2 clips of 2 patches per step.
  # 2 steps, then 2 more in a new process, equal 4 uninterrupted.
  flags = ("--mode", "train_enhancer", "--config", ENHANCER_TINY, f"--config.data.folder={clips}",
           "--workdir", str(tmp_path))
  run_cli(*flags, "--config.total_steps=2")
  assert "Resumed from step 2" in run_cli(*flags).stderr
  _, _, expected = infer.load(workdir)
  _, _, resumed = infer.load(tmp_path)
  # Exact: the same compiled step on the same batches (the data position is restored).
  jax.tree.map(np.testing.assert_array_equal, expected, resumed)


def test_four_devices_train_like_one(tiny_workdir, clips, tmp_path):
  workdir, _ = tiny_workdir
  run_cli("--mode", "train_enhancer", "--config", ENHANCER_TINY, f"--config.data.folder={clips}",
          "--workdir", str(tmp_path), env={"JAX_NUM_CPU_DEVICES": "4"})  # 4 patches, one per device.
  _, _, one = infer.load(workdir)
  _, _, four = infer.load(tmp_path)
  from videogan.enhancer.task import EnhancerTask

  init = EnhancerTask(load_config(ENHANCER_TINY)).init_state(None, None).params
  assert_close_to(four, one, init)  # The bound of tests/test_sharding.py: only the reductions' order differs.


def test_enhance_writes_a_video_of_the_right_size_length_and_fps(tiny_workdir, tmp_path):
  workdir, _ = tiny_workdir
  source = write_video(tmp_path / "in.mp4", counter_frames(11, 48)[:, :40], fps=15)
  out = tmp_path / "out" / "big.mp4"
  proc = run_cli("--mode", "enhance", "--workdir", str(workdir), "--input", str(source), "--output", str(out),
                 "--scale", "2")
  assert "Wrote" in proc.stderr
  info = video_file.probe(out)
  assert (info.width, info.height, info.fps) == (96, 80, 15) and video_file.count_frames(out) == 11


def test_evaluation_report_and_bad_inputs(tiny_workdir, tmp_path):
  workdir, _ = tiny_workdir
  report = enhancer_eval.evaluate_checkpoint(workdir, num_frames=3)
  assert report["recipe"]["scale"] == 2 and json.loads((workdir / "eval_enhancer.json").read_text())["videos"]
  assert 15 < report["bicubic_psnr_rgb"] < 50 and 0 < report["bicubic_ssim_y"] <= 1
  # Each kind of config.eval.kinds on its own test pairs; the default output file is lossless (0 dB lost).
  assert set(report["kinds"]) == {"bicubic", "area"}
  assert report["kinds"]["area"]["recipe"]["eval_degrade"]["resize"] == "area"
  assert report["kinds"]["area"]["bicubic_psnr_rgb"] != report["kinds"]["bicubic"]["bicubic_psnr_rgb"]
  for scores in report["kinds"].values():
    assert scores["file_loss_db"] == 0 and 15 < scores["bilinear_psnr_rgb"] < 50
  with pytest.raises(ValueError, match="unknown degradation"):
    enhancer_eval.evaluate_checkpoint(workdir, num_frames=3, kinds=("blurry",))

  source = write_video(tmp_path / "in.mp4", counter_frames(4, 32), fps=10)
  text = tmp_path / "notes.mp4"
  text.write_text("not a video")
  out = tmp_path / "out.mp4"
  cases = [
      (dict(input_path=tmp_path / "missing.mp4"), "no such file"),
      (dict(input_path=text), "notes.mp4"),
      (dict(input_path=source, scale=3), "unsupported; expected one of (1, 2, 4)"),
      (dict(input_path=source, scale=4), "the checkpoint is a x2 enhancer; --scale=4"),
      (dict(input_path=source, output_path=tmp_path / "out.avi"), "expected a .mp4, .gif, .mkv file"),
  ]
  for kwargs, message in cases:
    kwargs = {"output_path": out, **kwargs}
    with pytest.raises(errors.InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
      infer.enhance_video(workdir, **kwargs)
    assert not out.exists() and not list(tmp_path.glob("tmp*"))
  with pytest.raises(errors.InputError, match="No enhancer checkpoint"):
    infer.enhance_video(tmp_path, source, out)
  proc = run_cli("--mode", "enhance", "--workdir", str(workdir), "--input", str(source), "--output", str(out),
                 "--scale", "4", check=False)
  assert proc.returncode != 0 and "error: " in proc.stderr and "x2 enhancer" in proc.stderr and not out.exists()


def test_enhancer_config_errors_name_the_key():
  from videogan import config_validation

  for key, value, message in [("model.scale", 3, "model.scale=3"), ("data.clip_len", 5, "equal to model.window"),
                              ("patch_size", 40, "data.image_size=32"), ("degrade.noise_sigma", (0.2, 0.1), "range")]:
    config = enhancer_config()
    config.data.folder = "clips"
    parent, leaf = (config[key.split(".")[0]], key.split(".")[1]) if "." in key else (config, key)
    parent[leaf] = value
    with pytest.raises(errors.ConfigError, match=message):
      config_validation.validate_enhancer(config)
  with pytest.raises(errors.ConfigError, match="not a GAN config"):
    config_validation.validate(enhancer_config())


def test_adversarial_term_trains_a_frame_discriminator():
  config = enhancer_config()
  config.adversarial_weight = 0.1
  models = enhancer_state.Models.from_config(config)
  state = models.init(jax.random.key(0), config)
  assert state.d_params and state.d_stats  # Spectral norm's power-iteration vectors.
  rng = np.random.default_rng(0)
  batch = {"lr": rng.uniform(-1, 1, (4, 3, 8, 8, 3)).astype(np.float32),
           "hr": rng.uniform(-1, 1, (4, 16, 16, 3)).astype(np.float32)}
  step = jax.jit(enhancer_step.make_train_step(models, config))
  new_state, m = step(state, batch)
  assert np.isfinite(m["d_loss"]) and m["d_loss"] > 0 and m["g_adv_loss"] > 0
  changed = jax.tree.map(lambda a, b: not np.allclose(a, b), state.d_params, new_state.d_params)
  assert any(jax.tree.leaves(changed))
  # The loss is L_rec + w L_G, L_G = -log D(f(y)) = softplus(-logit), recomputed here.
  assert float(m["loss"]) == pytest.approx(float(m["rec_loss"]) + 0.1 * float(m["g_adv_loss"]), rel=1e-6)


def test_reconstruction_losses_by_hand():
  target = jnp.zeros((1, 4, 4, 3))
  output = target + 0.2  # 0.1 in [0, 1] pixel units.
  assert float(enhancer_step.reconstruction_loss(output, target, "l1", 1e-3)) == pytest.approx(0.1)
  assert float(enhancer_step.reconstruction_loss(output, target, "charbonnier", 1e-3)) == pytest.approx(
      np.sqrt(0.1**2 + 1e-6), rel=1e-6)
  assert float(enhancer_step.reconstruction_loss(target, target, "charbonnier", 1e-3)) == pytest.approx(1e-3)


def test_train_step_metrics_stay_finite_on_undegraded_patches():
  config = enhancer_config()
  config.model.scale = 1
  models = enhancer_state.Models.from_config(config)
  state = models.init(jax.random.key(0), config)
  hr = np.random.default_rng(0).uniform(-1, 1, (4, 8, 8, 3)).astype(np.float32)
  batch = {"lr": np.repeat(hr[:, None], 3, axis=1), "hr": hr}  # Input == target: MSE 0 for the baseline.
  _, m = jax.jit(enhancer_step.make_train_step(models, config))(state, batch)
  assert all(np.isfinite(v) for v in m.values()) and float(m["psnr_bicubic"]) == pytest.approx(100.0)


def test_photo_clips_follow_the_camera_path():
  """A photograph of one bright square, filmed: its centre moves as camera_path says (pan: in a straight
  line at constant speed; zoom: it grows by the zoom), to within a pixel."""
  from videogan.data import enhancer_clips

  photo = np.zeros((300, 400, 3), np.uint8)
  photo[140:160, 190:210] = 255
  size = 300 * 0.8 / enhancer_clips.PHOTO_SHRINK // 4 * 4, 400 * 0.8 / enhancer_clips.PHOTO_SHRINK // 4 * 4

  def centres(frames):
    weights = frames[..., 0].astype(np.float64)
    ys, xs = np.mgrid[: frames.shape[1], : frames.shape[2]]
    return np.stack([(weights * ys).sum((1, 2)) / weights.sum((1, 2)), (weights * xs).sum((1, 2)) / weights.sum((1, 2))], 1)

  t = np.linspace(0, 1, enhancer_clips.PHOTO_FRAMES)
  for motion in enhancer_clips.MOTIONS:
    frames = enhancer_clips.film_photo(photo, motion, seed=3)
    assert frames.shape == (enhancer_clips.PHOTO_FRAMES, *map(int, size), 3) and frames.dtype == np.uint8
    dy, dx, zoom = enhancer_clips.camera_path(motion, t, seed=3)
    step = enhancer_clips.PHOTO_SHRINK / zoom  # Photo pixels per frame pixel.
    top = (300 - size[0] * step) / 2 + dy * (300 - size[0] * step)
    left = (400 - size[1] * step) / 2 + dx * (400 - size[1] * step)
    want = np.stack([(149.5 - top) / step, (199.5 - left) / step], 1) - 0.5  # The square's centre, frame pixels.
    np.testing.assert_allclose(centres(frames), want, atol=1.0)
    area = (frames[..., 0] > 127).sum((1, 2))
    np.testing.assert_allclose(area, (20 / step) ** 2, rtol=0.25)
    assert np.abs(np.diff(centres(frames), axis=0)).max() > 0.05  # The camera does move.
