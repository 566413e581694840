"""The digit score: glyph extraction by hand, resizing against jax, the classifier on held-out MNIST."""

from pathlib import Path

import jax
import numpy as np
import pytest
from flax import traverse_util
from scipy import ndimage

from tests.conftest import load_config
from videogan.data import mnist, pipeline
from videogan.gan import digits


def test_normalise_a_rectangle_by_hand():
  # A 10 x 5 block of ones grows to 20 x 10 (longer side 20), still all ones; its centre of mass
  # (9.5, 4.5) goes to the image's centre (13.5, 13.5): rows 4-23, columns 9-18.
  out = digits.normalise(np.ones((10, 5), np.float32))
  expected = np.zeros((28, 28), np.float32)
  expected[4:24, 9:19] = 1
  np.testing.assert_allclose(out, expected, atol=1e-6)


@pytest.mark.parametrize("shape, size", [((40, 30), (20, 15)), ((7, 12), (12, 20)), ((33, 33), (20, 20))])
def test_resize_matches_jax_antialiased_linear_resize(shape, size):
  image = np.random.default_rng(0).uniform(size=shape).astype(np.float32)
  ours = digits._resize_matrix(shape[0], size[0]) @ image @ digits._resize_matrix(shape[1], size[1]).T
  theirs = jax.image.resize(image, size, "linear", antialias=True)
  np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_glyphs_are_the_frames_digits_and_not_its_specks():
  images, labels = mnist.load_labelled("test")
  # Two test digits whose bright pixels are one 8-connected component each, as most are.
  whole = [i for i in range(200) if ndimage.label(images[i] > 127, digits.EIGHT_CONNECTED)[1] == 1]
  a, b = images[whole[0]], images[whole[1]]
  frame = np.zeros((64, 64), np.uint8)
  frame[2:30, 2:30], frame[34:62, 30:58] = a, b
  frame[60:62, 2:5] = 255  # A 6-pixel speck: below MIN_PIXELS.
  found = digits.glyphs(frame)
  assert len(found) == 2
  for glyph, digit in zip(found, (a, b), strict=True):
    # Each is its digit normalised, up to faint grey pixels more than HALO px from the strokes.
    assert np.abs(glyph - digits.normalise(digits.tight_crop(digit / 255.0))).mean() < 0.01
    rows, cols = np.nonzero(glyph > 0.05)
    assert max(np.ptp(rows), np.ptp(cols)) + 1 in (20, 21)
    np.testing.assert_allclose(ndimage.center_of_mass(glyph), (13.5, 13.5), atol=0.5)
  assert digits.glyphs(np.zeros((64, 64), np.uint8)) == []


@pytest.fixture(scope="module")
def classify(tmp_path_factory):
  config = load_config("configs/moving_mnist.py")
  config.fvd.cache_dir = str(tmp_path_factory.mktemp("cache"))
  return config, digits.load_classifier(config)  # Trains it (about a minute on 2 cores) and caches it.


def test_classifier_reads_held_out_digits_and_calls_junk_junk(classify):
  config, probabilities = classify
  images, labels = mnist.load_labelled("test")
  p = probabilities(np.stack([digits.normalise(digits.tight_crop(d / 255.0)) for d in images[:2000]]))
  assert (p.argmax(1) == labels[:2000]).mean() > 0.96
  assert (p[:, : digits.JUNK].max(1) > digits.SURE).mean() > 0.9
  junk = digits.junk(images, labels, 500, seed=1234)  # Test digits, another seed: unseen junk.
  assert (probabilities(junk).argmax(1) == digits.JUNK).mean() > 0.9
  assert len(list(Path(config.fvd.cache_dir).glob("digit_classifier_*.npz"))) == 1
  again = digits.load_classifier(config)  # From the cache: the same function.
  np.testing.assert_allclose(again(junk[:50]), probabilities(junk[:50]), atol=1e-6)


def test_score_ranks_real_clips_far_above_noise_and_scrambled_pixels(classify):
  config, probabilities = classify
  ds = pipeline.make_dataset(config, split="test", seed=0, global_batch=64, num_steps=1, training=False)
  real = ((next(ds.as_numpy_iterator())["video"] + 1) * 127.5).round().astype(np.uint8)
  rng = np.random.default_rng(0)
  noise = rng.integers(0, 256, real.shape, dtype=np.uint8)
  scrambled = np.stack([rng.permutation(f.ravel()).reshape(f.shape) for f in real.reshape(-1, 64, 64, 1)])
  scores = {name: digits.score(clips, probabilities) for name, clips in
            [("real", real), ("noise", noise), ("scrambled", scrambled.reshape(real.shape)),
             ("blank", np.zeros_like(real))]}
  print({k: (round(v["score"], 3), round(v["glyphs_per_frame"], 2)) for k, v in scores.items()})
  # Real clips: 0.66 of 1.62 glyphs per frame over 256 clips; touching digits are one glyph, read as junk.
  assert scores["real"]["score"] > 0.5 and 1.4 < scores["real"]["glyphs_per_frame"] < 2
  assert sum(scores["real"]["sure_classes"]) > 0.5 * 1.4 * real.shape[0] * real.shape[1]
  assert scores["noise"]["score"] < 0.1 and scores["scrambled"]["score"] < 0.1
  assert scores["blank"] == {"score": 0.0, "glyphs_per_frame": 0.0, "bright_pixels_per_frame": 0.0,
                             "sure_classes": [0] * 10}
  with pytest.raises(ValueError, match=r"grey uint8 clips \[N, T, H, W, 1\], got shape \(2, 8, 64, 64, 3\)"):
    digits.score(np.zeros((2, 8, 64, 64, 3), np.uint8), probabilities)


def test_report_reads_only_the_frames_a_prediction_model_made(classify):
  config, probabilities = classify
  ds = pipeline.make_dataset(config, split="test", seed=0, global_batch=8, num_steps=1, training=False)
  real = ((next(ds.as_numpy_iterator())["video"] + 1) * 127.5).round().astype(np.uint8)
  given = real.copy()
  given[:, 5:] = 0  # Real context frames, then blank "predictions".
  whole, made = digits.report(config, given, real), digits.report(config, given, real, first_frame=5)
  assert whole["generated"]["score"] > 0.2 and whole["recipe"]["first_frame"] == 0  # The real frames' digits.
  assert made["generated"]["glyphs_per_frame"] == 0 and made["generated"]["score"] == 0  # Only the blanks.
  assert made["recipe"]["first_frame"] == 5
  # The real clips are read over the same frames: frames 5-15 of each.
  assert made["real"] == digits.score(real[:, 5:], probabilities) == digits.score(real, probabilities, first_frame=5)


def test_a_damaged_classifier_cache_is_trained_again_and_rewritten(classify, monkeypatch, tmp_path):
  config, probabilities = classify
  (cached,) = Path(config.fvd.cache_dir).glob("digit_classifier_*.npz")
  with np.load(cached) as f:
    params = traverse_util.unflatten_dict({tuple(k.split("/")): f[k] for k in f.files})
  damaged = tmp_path / cached.name
  damaged.write_bytes(b"not an npz")
  trained = []
  monkeypatch.setattr(digits, "train_classifier", lambda data: trained.append(len(data[0])) or params)
  config = config.copy_and_resolve_references()
  config.fvd.cache_dir = str(tmp_path)
  again = digits.load_classifier(config)
  assert trained == [60000]  # Trained again, on MNIST's train digits...
  images = digits.junk(*mnist.load_labelled("test"), 20, seed=5)
  np.testing.assert_allclose(again(images), probabilities(images), atol=1e-6)
  with np.load(damaged) as f:  # ... and cached again, readable.
    assert set(f.files) == {"/".join(k) for k in traverse_util.flatten_dict(params)}
