"""Generator and discriminator: shapes, ranges and spectral normalisation."""

import jax
import jax.numpy as jnp
import numpy as np

from videogan.models.gan import VideoGAN


def test_generator_output_shape_and_range(tiny_config):
  config = tiny_config()
  gan = VideoGAN.from_config(config)
  params = gan.generator.init(jax.random.key(0), **gan.latents(jax.random.key(1), 1))["params"]
  video = gan.generate(params, jax.random.key(2), 3)
  assert video.shape == (3, config.data.clip_len, 32, 32, 1)
  assert float(video.min()) >= -1 and float(video.max()) <= 1
  # Frames of one clip differ (motion latents), clips differ (content latents).
  assert float(jnp.abs(video[:, 0] - video[:, 1]).max()) > 0
  assert float(jnp.abs(video[0] - video[1]).max()) > 0


def test_default_generator_is_64x64x16():
  from tests.conftest import load_config

  gan = VideoGAN.from_config(load_config("configs/moving_mnist.py"))
  shapes = jax.eval_shape(lambda r: gan.generator.init_with_output(r, **gan.latents(r, 2))[0], jax.random.key(0))
  assert shapes.shape == (2, 16, 64, 64, 1)


def test_discriminator_heads_and_frame_sampling(tiny_config):
  config = tiny_config()
  config.model.discriminator.spectral_norm = True
  gan = VideoGAN.from_config(config)
  video = jax.random.uniform(jax.random.key(0), (3, *gan.video_shape), minval=-1, maxval=1)
  idx = gan.frame_indices(jax.random.key(1), 3)
  assert idx.shape == (3, gan.spatial_frames)
  assert all(len(set(row.tolist())) == gan.spatial_frames for row in np.asarray(idx))  # distinct frames
  variables = gan.discriminator.init(jax.random.key(2), video, idx)
  logits, _ = gan.discriminate(variables["params"], variables["batch_stats"], video, idx, update_stats=False)
  assert logits["spatial"].shape == (3, gan.spatial_frames) and logits["temporal"].shape == (3,)
  # The spatial head judges frames independently: permuting the chosen frames permutes its logits.
  logits_perm, _ = gan.discriminate(variables["params"], variables["batch_stats"], video, idx[:, ::-1], update_stats=False)
  np.testing.assert_allclose(logits_perm["spatial"], logits["spatial"][:, ::-1], rtol=1e-5, atol=1e-6)


def test_spectral_norm_converges_to_largest_singular_value(tiny_config):
  config = tiny_config()
  config.model.discriminator.spectral_norm = True
  gan = VideoGAN.from_config(config)
  video = jnp.zeros((1, *gan.video_shape))
  idx = jnp.zeros((1, gan.spatial_frames), jnp.int32)
  variables = gan.discriminator.init(jax.random.key(0), video, idx)
  stats = variables["batch_stats"]
  for _ in range(200):  # power iteration, one step per call
    _, stats = gan.discriminate(variables["params"], stats, video, idx, update_stats=True)
  kernel = np.asarray(variables["params"]["spatial1"]["kernel"])
  sigma = float(stats["sn_spatial1"]["spatial1/kernel/sigma"])
  np.testing.assert_allclose(sigma, np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0], rtol=1e-3)
