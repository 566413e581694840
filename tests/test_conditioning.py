"""Conditional generation: context frames, class labels, rollouts, extend and animate."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.conftest import REPO, load_config, run_cli
from tests.test_train_step import step_draws
from tests.video_helpers import counter_frames, read_counter, write_video
from videogan import errors, video_io
from videogan.data import pipeline
from videogan.errors import ConfigError
from videogan.gan import conditional, eval_prediction, sample
from videogan.gan import state as state_lib
from videogan.gan.train_step import make_train_step
from videogan.models.gan import VideoGAN

TINY_PREDICT = f"{REPO / 'configs' / 'moving_mnist.py'}:tiny_predict"


def init(config):
  gan = VideoGAN.from_config(config)
  g_tx, d_tx = state_lib.make_optimizers(config)
  return gan, state_lib.create_state(jax.random.key(0), gan, g_tx, d_tx)


def test_context_frames_pass_through_unchanged_and_condition_the_rest(tiny_config):
  config = tiny_config("tiny_predict")
  gan, state = init(config)
  context = jax.random.uniform(jax.random.key(1), (3, 2, 32, 32, 1), minval=-1, maxval=1)
  clip = gan.generate(state.g_params, jax.random.key(2), 3, context=context)
  assert clip.shape == (3, 4, 32, 32, 1)
  np.testing.assert_array_equal(clip[:, :2], context)
  other = gan.generate(state.g_params, jax.random.key(2), 3, context=-context)
  assert not np.allclose(clip[:, 2:], other[:, 2:])  # The generated frames depend on the context.
  with pytest.raises(ValueError, match="continues 2 context frame"):
    gan.generate(state.g_params, jax.random.key(2), 3)


def test_class_conditional_g_and_projection_d(tiny_config):
  config = tiny_config()
  config.model.num_classes = 3  # Built directly: Moving MNIST has no labels to train with.
  gan, state = init(config)
  labels = jnp.array([0, 1, 2])
  latents = gan.latents(jax.random.key(3), 1)
  latents = jax.tree.map(lambda x: jnp.repeat(x, 3, axis=0), latents)  # Same noise, three classes.
  clips = gan.generator.apply({"params": state.g_params}, **latents, label=labels)
  assert not np.allclose(clips[0], clips[1]) and not np.allclose(clips[1], clips[2])
  video = jnp.repeat(clips[:1], 3, axis=0)
  logits, _ = gan.discriminate(state.d_params, state.d_stats, video, jnp.zeros((3, 2), jnp.int32), False, label=labels)
  assert logits["spatial"].shape == (3, 2) and logits["temporal"].shape == (3,)
  # Projection: the logits of the same clip differ by <embed(y), phi(x)> only.
  assert len(set(np.round(np.asarray(logits["temporal"]), 6))) == 3


def test_train_step_with_context_and_labels(tiny_config):
  config = tiny_config("tiny_predict")
  config.model.num_classes = 3
  gan, state = init(config)
  batch = {"video": jax.random.uniform(jax.random.key(1), (8, 4, 32, 32, 1), minval=-1, maxval=1),
           "label": jnp.arange(8) % 3}
  new, metrics = jax.jit(make_train_step(gan, config))(state, batch, jax.random.key(2))
  assert all(np.isfinite(float(v)) for v in metrics.values())
  for name in ("context0", "skip0", "class_embed"):
    assert not np.array_equal(jax.tree.leaves(new.g_params[name])[0], jax.tree.leaves(state.g_params[name])[0]), name
  assert not np.array_equal(new.d_params["temporal_class_embed"]["embedding"], state.d_params["temporal_class_embed"]["embedding"])


def test_rollout_has_exactly_n_frames_and_keeps_the_given_ones(tiny_config):
  config = tiny_config("tiny_predict")
  gan, state = init(config)
  given = np.random.default_rng(0).uniform(-1, 1, (2, 3, 32, 32, 1)).astype(np.float32)
  for n in (3, 4, 11, 12):
    out = conditional.rollout(gan, state.g_params, given, n, jax.random.key(0))
    assert out.shape == (2, max(n, 3), 32, 32, 1)
    np.testing.assert_array_equal(out[:, :3], given)
  with pytest.raises(errors.InputError, match="unconditional"):
    unconditional, u_state = init(tiny_config())
    conditional.rollout(unconditional, u_state.g_params, given, 8, jax.random.key(0))


@pytest.fixture(scope="module")
def predict_workdir(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("predict")
  run_cli("--config", TINY_PREDICT, "--workdir", str(workdir))
  return workdir


@pytest.fixture(scope="module")
def ten_second_clip(tmp_path_factory):
  return write_video(tmp_path_factory.mktemp("clip") / "ten_seconds.mp4", counter_frames(100), fps=10)


def test_extend_10s_at_10fps_to_20s(predict_workdir, ten_second_clip, tiny_config):
  config = tiny_config("tiny_predict")
  frames = conditional.extend(config, predict_workdir, ten_second_clip, seconds=20)
  given = conditional.load_video(ten_second_clip, 32, 1, 10.0)
  assert len(given) == 100 and frames.shape == (200, 32, 32, 1)
  np.testing.assert_array_equal(frames[:100], given)
  # The same through the CLI, as the README writes it: tests/test_readme_commands.py.


def test_extend_resamples_the_input_to_the_model_fps(predict_workdir, tiny_config, tmp_path):
  clip = write_video(tmp_path / "thirty.mp4", counter_frames(60), fps=30)  # 2 s at 30 fps -> 20 frames at 10 fps.
  frames = conditional.extend(tiny_config("tiny_predict"), predict_workdir, clip, seconds=3)
  assert frames.shape[0] == 30
  np.testing.assert_array_equal(read_counter(np.repeat(frames[:20], 3, -1)), 3 * np.arange(20))


def test_bad_inputs_fail_clearly_and_write_nothing(predict_workdir, ten_second_clip, tiny_config, tmp_path):
  config = tiny_config("tiny_predict")
  (tmp_path / "text.mp4").write_text("not a video")
  still = tmp_path / "still.png"
  video_io.write_image(still, np.zeros((32, 32, 3), np.uint8))
  cases = [
      (tmp_path / "missing.mp4", 20, None, "no such file"),
      (tmp_path / "text.mp4", 20, None, "not a readable video"),
      (still, 20, None, "is a still image"),
      (ten_second_clip, 0, None, "expected a positive duration"),
      (ten_second_clip, 5, None, "not longer than the input"),
      (ten_second_clip, 20, 1, "this model is unconditional"),
  ]
  for path, seconds, label, message in cases:
    with pytest.raises(errors.InputError, match=message):
      conditional.extend(config, predict_workdir, path, seconds, label=label)
  with pytest.raises(errors.InputError, match="needs an image-to-video model"):
    conditional.animate(config, predict_workdir, still, 2)
  config.model.num_classes = 3
  with pytest.raises(errors.InputError, match=r"--label=7: expected a class in \[0, 3\)"):
    conditional.extend(config, predict_workdir, ten_second_clip, 20, label=7)

  out = tmp_path / "out.mp4"
  proc = run_cli("--config", TINY_PREDICT, "--workdir", str(predict_workdir), "--mode", "extend", "--input",
                 str(still), "--seconds", "20", "--output", str(out), check=False)
  assert proc.returncode != 0 and "is a still image" in proc.stderr and not out.exists()
  assert list(tmp_path.glob("*.mp4")) == [tmp_path / "text.mp4"]  # No partial or temporary files.


def test_prediction_metrics_by_hand():
  truth = np.zeros((1, 4, 2, 2, 1))
  truth[0, 1] = 0.5
  truth[0, 2] = 1.0
  truth[0, 3] = 0.25
  pred = truth.copy()
  pred[0, 2] = 0.5  # k = 2: frames 2 and 3 are predicted; frame 2 off by 0.5, frame 3 exact.
  m = eval_prediction.prediction_metrics(pred, truth, 2)
  assert m["mse"] == pytest.approx((0.25 + 0.0) / 2)
  assert m["psnr"] == pytest.approx((10 * np.log10(1 / 0.25) + 10 * np.log10(1 / 1e-10)) / 2)
  assert m["seam"] == pytest.approx(abs(0.5 - 0.5)) and m["inside"] == pytest.approx(0.25)


def test_class_conditional_training_and_sampling_a_label(tmp_path):
  folder = tmp_path / "videos"
  for label in ("a", "b"):
    for i in range(2):
      write_video(folder / label / f"{i}.mp4", counter_frames(20) // (1 + (label == "b")), fps=10)
  config = [f"--config={REPO / 'configs' / 'video_folder.py'}:tiny", f"--config.data.folder={folder}",
            "--config.data.eval_fraction=0.0", "--config.model.num_classes=2"]
  workdir = tmp_path / "run"
  run_cli(*config, "--workdir", str(workdir))
  run_cli(*config, "--workdir", str(workdir), "--mode", "sample", "--label", "1", "--output_dir", str(tmp_path / "s"))
  videos = np.load(tmp_path / "s" / "samples.npz")["videos"]
  assert videos.shape == (4, 4, 32, 32, 3) and videos.dtype == np.uint8
  # The errors, in this process (videogan.main prints a ConfigError's message and exits 1; test_cli.py).
  loaded = load_config("configs/video_folder.py:tiny")  # What the `config` flags above make.
  loaded.data.folder, loaded.data.eval_fraction, loaded.model.num_classes = str(folder), 0.0, 2
  with pytest.raises(ConfigError, match=re.escape("--label=5: expected a class in [0, 2)")):
    sample.sample_from_checkpoint(loaded, workdir, tmp_path / "bad", label=5)
  assert not (tmp_path / "bad").exists()
  loaded.model.num_classes = 3
  with pytest.raises(ConfigError, match="num_classes=3: the 'folder' data has 2 classes"):
    pipeline.check_source(loaded)


def test_prediction_l1_term_of_the_g_loss(tiny_config):
  from videogan import losses

  config = tiny_config("tiny_predict")
  config.prediction_l1 = 5.0
  gan, state = init(config)
  real = jax.random.uniform(jax.random.key(1), (8, 4, 32, 32, 1), minval=-1, maxval=1)
  rng = jax.random.key(2)
  new, metrics = jax.jit(make_train_step(gan, config))(state, {"video": real}, rng)
  # Recompute L_G = L_G^GAN(D_new(G(z | x_<2))) + 5 mean |G(z | x_<2)_t - x_t|, t >= 2, outside the step.
  z_rng, _, g_frames_rng = step_draws(state, rng)
  fake = gan.generate(state.g_params, z_rng, 8, context=real[:, :2])
  l1 = np.abs(np.asarray(fake[:, 2:]) - np.asarray(real[:, 2:])).mean()
  logits, _ = gan.discriminate(new.d_params, new.d_stats, fake, gan.frame_indices(g_frames_rng, 8), update_stats=False)
  gan_loss = losses.non_saturating_g_loss(logits["spatial"]) + losses.non_saturating_g_loss(logits["temporal"])
  np.testing.assert_allclose(metrics["g_l1"], l1, rtol=1e-5)
  np.testing.assert_allclose(metrics["g_loss"], gan_loss + 5.0 * l1, rtol=1e-5)
