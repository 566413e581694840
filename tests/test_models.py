"""Generator and discriminator: shapes, ranges and spectral normalisation."""

import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.conftest import REPO
from tests.test_layers import numpy_spatial_conv
from videogan.models import generators
from videogan.models.gan import VideoGAN
from videogan.models.generators.conv_gru import ConvGRUCell
from videogan.models.generators.sprites import translate


@pytest.mark.parametrize("motion", generators.FAMILIES)
def test_generator_output_shape_and_range(tiny_config, motion):
  config = tiny_config()
  config.model.generator = generators.default_config(motion, like=config.model.generator)
  gan = VideoGAN.from_config(config)
  params = gan.generator.init(jax.random.key(0), **gan.latents(jax.random.key(1), 1))["params"]
  if motion == "style":  # Its modulations start at zero (style.py); give them the values training would.
    params = {k: ({"kernel": jax.random.normal(jax.random.key(3), v["kernel"].shape) * 0.1, "bias": v["bias"]}
                  if k.startswith("style") else v) for k, v in params.items()}
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


def test_conv_gru_matches_numpy():
  """Three steps of the ConvGRU against its equations written out in float64 numpy."""
  rng = np.random.default_rng(0)
  h0 = (0.5 * rng.normal(size=(2, 5, 4, 3))).astype(np.float32)
  xs = rng.normal(size=(2, 3, 6)).astype(np.float32)  # [batch, time, input]
  rnn = nn.scan(ConvGRUCell, variable_broadcast="params", split_rngs={"params": False}, in_axes=1, out_axes=1)(3)
  params = jax.tree.map(lambda p: p + 0.05, rnn.init(jax.random.key(0), h0, xs))  # Non-zero biases too.
  _, got = rnn.apply(params, h0, xs)

  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params["params"])
  def conv(h, kernel, bias=0.0):  # 3x3 SAME cross-correlation of [B, H, W, C].
    return numpy_spatial_conv(h[:, None], kernel, bias, 1)[:, 0]
  def sigmoid(a):
    return 1 / (1 + np.exp(-a))
  h, want = h0.astype(np.float64), []
  for t in range(3):
    xi = (xs[:, t] @ p["input"]["kernel"] + p["input"]["bias"])[:, None, None]  # [B, 1, 1, 3C]
    gates = conv(h, p["hidden_gates"]["kernel"])
    u = sigmoid(xi[..., 0:3] + gates[..., 0:3])
    r = sigmoid(xi[..., 3:6] + gates[..., 3:6])
    n = np.tanh(xi[..., 6:9] + r * conv(h, p["hidden_candidate"]["kernel"], p["hidden_candidate"]["bias"]))
    h = (1 - u) * n + u * h
    want.append(h)
  np.testing.assert_allclose(got, np.stack(want, 1), rtol=1e-4, atol=1e-5)


def test_translate_matches_scipy_shift():
  """Sprites moved by fractional corners equal scipy's linear-interpolation shift of the padded sprite."""
  from scipy import ndimage

  rng = np.random.default_rng(0)
  sprites = rng.uniform(0, 1, (2, 5, 5, 3, 2)).astype(np.float32)  # [B, S, S, K, C]
  top, left = rng.uniform(0, 7, (2, 2, 4, 3)).astype(np.float32)  # [B, T, K] each, in [0, side - S]
  got = translate(jnp.asarray(sprites), jnp.asarray(top), jnp.asarray(left), 12)
  assert got.shape == (2, 4, 3, 12, 12, 2)
  for b, t, k, c in np.ndindex(2, 4, 3, 2):
    canvas = np.zeros((12, 12))
    canvas[:5, :5] = sprites[b, :, :, k, c]
    want = ndimage.shift(canvas, (top[b, t, k], left[b, t, k]), order=1, mode="grid-constant")
    np.testing.assert_allclose(got[b, t, k, ..., c], want, atol=1e-5)


def test_translate_to_whole_pixels_draws_rounded_and_passes_the_bilinear_gradient():
  """Forward: scipy's shift by the rounded corner. Backward: the corner's gradient is a central difference
  of the bilinear shift in that coordinate (its other coordinate rounded, as the forward pass draws it)."""
  from scipy import ndimage

  rng = np.random.default_rng(1)
  sprite = rng.uniform(0, 1, (5, 5)).astype(np.float32)
  top, left = np.float32(2.3), np.float32(4.6)  # Away from .5, where rounding would be ambiguous.
  cotangent = rng.normal(size=(12, 12))

  def move(y, x):  # One sprite, frame and channel: [12, 12].
    args = jnp.asarray(sprite)[None, :, :, None, None], jnp.reshape(y, (1, 1, 1)), jnp.reshape(x, (1, 1, 1))
    return translate(*args, 12, whole_pixels=True)[0, 0, 0, ..., 0]

  canvas = np.zeros((12, 12))
  canvas[:5, :5] = sprite
  np.testing.assert_allclose(move(top, left), ndimage.shift(canvas, (2, 5), order=0, mode="grid-constant"), atol=1e-6)
  got = jax.grad(lambda y, x: jnp.sum(move(y, x) * cotangent), argnums=(0, 1))(top, left)

  def objective(y, x):
    return np.sum(ndimage.shift(canvas, (y, x), order=1, mode="grid-constant") * cotangent)

  h = 1e-3  # The tent weights are linear between whole pixels, so the difference is exact up to rounding.
  want_top = (objective(top + h, 5) - objective(top - h, 5)) / (2 * h)
  want_left = (objective(2, left + h) - objective(2, left - h)) / (2 * h)
  np.testing.assert_allclose(got, (want_top, want_left), rtol=1e-3)
  assert abs(want_top) > 1e-2 and abs(want_left) > 1e-2  # The places do get a gradient.


@pytest.mark.parametrize("decoder,blend,positions,background", [
    ("joint", "over", "subpixel", True), ("shared", "max", "subpixel", True), ("shared", "over", "subpixel", True),
    ("shared", "max", "pixel", True), ("shared", "max", "pixel", False), ("joint", "over", "subpixel", False)])
def test_sprite_generator_composites_its_layers(tiny_config, decoder, blend, positions, background):
  """Frames of motion "sprites" recomputed in numpy from the decoder's outputs (sprites, background, places)."""
  from scipy import ndimage

  config = tiny_config()
  config.model.generator = generators.default_config(
      "sprites", like=config.model.generator, num_sprites=2, sprite_decoder=decoder, sprite_blend=blend,
      sprite_positions=positions, sprite_background=background)
  gan = VideoGAN.from_config(config)
  latents = gan.latents(jax.random.key(1), 2)
  params = gan.generator.init(jax.random.key(0), **latents)
  assert params["params"]["project"]["kernel"].shape[-1] == 16 * config.model.generator.widths[0] * (
      2 + background if decoder == "shared" else 1)  # A 4 px map per layer (background and 2 sprites), or one for all.
  assert ("to_pixels" in params["params"]) == background  # No background: nothing decodes to full size.
  video, state = gan.generator.apply(params, **latents, capture_intermediates=True)
  inner = jax.tree.map(lambda a: np.asarray(a, np.float64), state["intermediates"])
  sprites = inner["to_sprites"]["__call__"][0]  # joint: [B, 1, 16, 16, K * m]; shared: [B, K, 16, 16, m].
  sprites = sprites[:, 0] if decoder == "joint" else np.concatenate(list(sprites.transpose(1, 0, 2, 3, 4)), -1)
  m = sprites.shape[-1] // 2  # [B, 16, 16, K * m]: per layer colour (and opacity).
  assert m == (2 if blend == "over" else 1)
  if background:
    background = np.tanh(inner["to_pixels"]["__call__"][0][..., 0])  # [B, 1, 32, 32]
  else:
    background = np.full((2, 1, 32, 32), -1.0)  # Black.
  path = inner["to_start"]["__call__"][0][:, None] + np.cumsum(inner["to_velocity"]["__call__"][0], 1)
  corners = 16 * (1 - np.abs(np.mod(path, 2) - 1))  # [B, T, 2K], bounced inside [0, 32 - 16].
  if positions == "pixel":
    corners = np.round(corners)
  want = np.repeat(background, video.shape[1], axis=1)

  def move(image, corner):  # A 16 px image placed at `corner` in an empty 32 px frame.
    canvas = np.zeros((32, 32))
    canvas[:16, :16] = image
    return ndimage.shift(canvas, corner, order=1, mode="grid-constant")

  for b, t, k in np.ndindex(2, video.shape[1], 2):
    colour, corner = np.tanh(sprites[b, ..., m * k]), corners[b, t, 2 * k : 2 * k + 2]
    if blend == "over":
      opacity = 1 / (1 + np.exp(-sprites[b, ..., 2 * k + 1]))
      want[b, t] = move(opacity * colour, corner) + (1 - move(opacity, corner)) * want[b, t]  # Layer k over the rest.
    else:  # Intensities in [0, 1] (0 = black off the sprite); the brighter wins.
      want[b, t] = 2 * np.maximum(move((colour + 1) / 2, corner), (want[b, t] + 1) / 2) - 1
  np.testing.assert_allclose(video[..., 0], want, atol=1e-5)


def test_sprite_decoder_depth_adds_3x3_convs_after_each_upsampling(tiny_config):
  """block_depth=2: each decoder resolution's second conv, recomputed in numpy from its input."""
  config = tiny_config()
  config.model.generator = generators.default_config("sprites", like=config.model.generator, sprite_background=False,
                                                     block_depth=2)
  gan = VideoGAN.from_config(config)
  latents = gan.latents(jax.random.key(1), 2)
  params = gan.generator.init(jax.random.key(0), **latents)["params"]
  _, state = gan.generator.apply({"params": params}, **latents, capture_intermediates=True)
  inner = state["intermediates"]
  widths = config.model.generator.widths
  for i, width in enumerate(widths[1:-1]):  # Without a background, the sprites' resolutions (up to half size).
    x = np.asarray(inner[f"block{i}"]["__call__"][0], np.float64)
    x = np.maximum(x / np.sqrt(np.mean(x**2, -1, keepdims=True) + 1e-8), 0)  # ReLU(pixel norm)
    layer = params[f"block{i}_1"]
    assert layer["kernel"].shape == (3, 3, width, width)
    want = numpy_spatial_conv(x, np.asarray(layer["kernel"]), np.asarray(layer["bias"]), 1)
    np.testing.assert_allclose(inner[f"block{i}_1"]["__call__"][0], want, rtol=1e-4, atol=1e-5)
  assert f"block{len(widths) - 2}" not in params  # Nothing decodes to full size.


@pytest.mark.parametrize("motion", ["conv_gru", "sprites"])
def test_generator_continues_context(tiny_config, motion):
  config = tiny_config("tiny_predict")
  config.model.generator = generators.default_config(motion, like=config.model.generator)
  gan = VideoGAN.from_config(config)
  video = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (2, *gan.video_shape)), jnp.float32)
  cond = gan.conditioning({"video": video})
  params = gan.generator.init(jax.random.key(0), **gan.latents(jax.random.key(1), 2), **cond)["params"]
  # Only the vector GRU (which also moves the sprites) takes a start state from the context.
  assert ("context_to_motion" in params) == (motion == "sprites")
  out = gan.generate(params, jax.random.key(2), 2, **cond)
  assert out.shape == (2, *gan.video_shape)
  np.testing.assert_array_equal(out[:, :2], video[:, :2])


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


@pytest.mark.parametrize("pooling,depth", [("flatten", 1), ("sum", 1), ("sum", 2)])
def test_discriminator_logits_from_last_features(tiny_config, pooling, depth):
  config = tiny_config()
  config.model.discriminator.spectral_norm = False
  config.model.discriminator.pooling = pooling
  config.model.discriminator.spatial_depth = depth
  gan = VideoGAN.from_config(config)
  video = jax.random.uniform(jax.random.key(0), (2, *gan.video_shape), minval=-1, maxval=1)
  idx = gan.frame_indices(jax.random.key(1), 2)
  params = gan.discriminator.init(jax.random.key(2), video, idx)["params"]
  logits, state = gan.discriminator.apply({"params": params}, video, idx, capture_intermediates=True)
  spatial_convs = len(config.model.discriminator.spatial_widths)
  temporal_convs = len(config.model.discriminator.temporal_widths)
  last_spatial = f"spatial{spatial_convs - 1}" + (f"_{depth - 1}" if depth > 1 else "")
  for head, last_conv, position_axes in (("spatial", last_spatial, (2, 3)),
                                         ("temporal", f"temporal{temporal_convs - 1}", (1, 2, 3))):
    conv_out = np.asarray(state["intermediates"][last_conv]["__call__"][0], np.float64)
    features = np.where(conv_out > 0, conv_out, 0.2 * conv_out)  # leaky ReLU
    batch_dims = features.shape[:position_axes[0]]  # [B, k] frames or [B] clips
    if pooling == "sum":
      features = features.sum(position_axes)
    else:
      features = features.reshape(*batch_dims, -1)
    dense = params[f"{head}_logit"]
    expected = features @ np.asarray(dense["kernel"])[:, 0] + float(dense["bias"][0])
    np.testing.assert_allclose(logits[head], expected, rtol=1e-5, atol=1e-5)
  if pooling == "sum":  # One weight per channel, wherever the features are.
    assert params["spatial_logit"]["kernel"].shape == (config.model.discriminator.spatial_widths[-1], 1)
  widths = config.model.discriminator.spatial_widths
  for i, width in enumerate(widths):  # Each stride-2 4x4 conv, then depth - 1 stride-1 3x3 convs of its width.
    before = f"spatial{i}"
    for j in range(1, depth):
      layer = params[f"spatial{i}_{j}"]
      assert layer["kernel"].shape == (3, 3, width, width)
      x = np.asarray(state["intermediates"][before]["__call__"][0], np.float64)
      want = numpy_spatial_conv(np.where(x > 0, x, 0.2 * x), np.asarray(layer["kernel"]), np.asarray(layer["bias"]), 1)
      got = state["intermediates"][f"spatial{i}_{j}"]["__call__"][0]
      np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
      before = f"spatial{i}_{j}"
  assert sum(re.fullmatch(r"spatial\d+(_\d+)?", name) is not None for name in params) == len(widths) * depth


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


def test_a_checkpoint_from_before_generators_by_name_samples_the_same_clips(tiny_config, tmp_path):
  """tests/data/pre_trainer_sprites: a tiny `sprites` run trained before the one-trainer change (step 4, when
  G was one class chosen by `motion`), with the samples that code wrote. Today's code restores it (the
  parameter names are unchanged) and writes the same clips: byte-identical here; a rounding that crosses
  a uint8 level on another CPU kind may move a few pixels by one level."""
  import shutil

  from videogan.gan import sample

  workdir = tmp_path / "run"
  shutil.copytree(REPO / "tests" / "data" / "pre_trainer_sprites" / "checkpoints", workdir / "checkpoints")
  config = tiny_config()
  config.model.generator = generators.default_config(
      "sprites", like=config.model.generator, sprite_decoder="shared", sprite_blend="max", sprite_positions="pixel",
      sprite_background=False, block_depth=2)
  sample.sample_from_checkpoint(config, workdir, tmp_path / "out")
  with np.load(tmp_path / "out" / "samples.npz") as got, \
       np.load(REPO / "tests" / "data" / "pre_trainer_sprites" / "samples.npz") as want:
    diff = np.abs(got["videos"].astype(int) - want["videos"])
  assert diff.max() <= 1 and (diff == 0).mean() >= 0.99


def test_style_layers_move_along_their_paths_and_composite_by_alpha(tiny_config):
  """`motion_layers`: each moving layer's path is a start, a content velocity and per-anchor turns summed
  over anchors (checked against the formula written out), and the first frame block's input is the still
  background and the moving layers shifted by scipy along those paths, mixed by the softmax of their alphas
  (a moved layer's alpha is -10 where it has left the frame)."""
  from scipy import ndimage

  config = tiny_config()
  block = generators.default_config("style", like=config.model.generator, motion_layers=2, layer_resolution=8)
  config.model.generator = block
  gan = VideoGAN.from_config(config)
  latents = gan.latents(jax.random.key(1), 2)
  params = gan.generator.init(jax.random.key(0), **latents)["params"]
  rng = np.random.default_rng(0)  # The paths start at zero (zero init); give them values training would.
  for name in ("layer_start", "layer_velocity", "layer_turn"):
    kernel = params[name]["kernel"]  # Paths of a few pixels, so the layers stay in view.
    params[name] = {"kernel": jnp.asarray(rng.normal(0, 0.02 / kernel.shape[0] ** 0.5, kernel.shape), jnp.float32),
                    "bias": jnp.asarray(rng.normal(0, 0.05, params[name]["bias"].shape), jnp.float32)}
  _, state = gan.generator.apply({"params": params}, **latents, mutable=["intermediates"],
                                 capture_intermediates=lambda m, _: m.name in ("mapping1", "motion_codes"))
  got = {k: np.asarray(v[0]) for k, v in state["intermediates"].items() if k in ("layers", "path")}
  w = np.asarray(state["intermediates"]["mapping1"]["__call__"][0])
  w = np.where(w > 0, w, 0.2 * w)  # The mapping's leaky ReLU.
  codes = np.asarray(state["intermediates"]["motion_codes"]["__call__"][0])  # [B, J, S]

  def dense(name, x):
    return x @ np.asarray(params[name]["kernel"]) + np.asarray(params[name]["bias"])

  def place(b, a):  # Layer places at anchor a: the start plus the velocity and turns of anchors i < a.
    return dense("layer_start", w[b]) + sum(dense("layer_velocity", w[b]) + dense("layer_turn", codes[b, i])
                                            for i in range(a))

  t, period, side, k = config.data.clip_len, block.motion_period, 8, 2
  want_path = np.zeros((2, t, k, 2))
  for b, frame in np.ndindex(2, t):
    j, f = frame // period, frame % period / period
    want_path[b, frame] = (((1 - f) * place(b, j) + f * place(b, j + 1)) * side).reshape(k, 2)
  np.testing.assert_allclose(got["path"], want_path, rtol=1e-4, atol=1e-5)
  assert 0.3 < np.abs(want_path).max() < 4

  # The composite is what the first block above the layers reads: capture it as block{first}'s input.
  first = 1  # 8 px in a 4, 8, 16, 32 generator.
  seen = {}

  def record(next_fun, args, kwargs, context):  # The input of block{first}'s call.
    if context.module.name == f"block{first}" and context.method_name == "__call__":
      seen["x"] = np.asarray(args[0])
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(record):
    gan.generator.apply({"params": params}, **latents)
  composite = seen["x"]
  channels = got["layers"].shape[-1] - 1
  assert got["layers"].shape[1] == 3  # The background and two moving layers.
  def shift(image, b, frame, layer):
    return ndimage.shift(image, got["path"][b, frame, layer], order=1, mode="grid-constant")

  for b, frame in np.ndindex(2, t):
    moved = [np.stack([shift(got["layers"][b, 1 + layer, ..., c], b, frame, layer) for c in range(channels)]
                      + [shift(got["layers"][b, 1 + layer, ..., -1] + 10, b, frame, layer) - 10], -1)
             for layer in range(k)]
    moved = np.stack([got["layers"][b, 0]] + moved)
    alpha = np.exp(moved[..., -1:] - moved[..., -1:].max(0))
    want = (alpha / alpha.sum(0) * moved[..., :-1]).sum(0)
    np.testing.assert_allclose(composite[b, frame], want, rtol=1e-4, atol=1e-4)


def test_style_sprite_layers_are_composited_over_the_frames_by_opacity(tiny_config):
  """`sprite_layers`: each sprite is drawn over the style network's frames with "over"; with constant
  sprites (colour c, opacity a) at whole-pixel places the frames must be, by numpy, f = a c + (1 - a) f on
  each sprite's square, back to front, and the style frames elsewhere."""
  config = tiny_config()
  config.model.generator = generators.default_config("style", like=config.model.generator, sprite_layers=2,
                                                     sprite_widths=(16, 8, 8, 4))
  gan = VideoGAN.from_config(config)
  latents = gan.latents(jax.random.key(1), 2)
  params = gan.generator.init(jax.random.key(0), **latents)["params"]
  params = {k: ({"kernel": jax.random.normal(jax.random.key(3), v["kernel"].shape) * 0.1, "bias": v["bias"]}
                if k.startswith("style") else v) for k, v in params.items()}  # Modulations as training gives.
  layer = dict(params.pop("sprite_layers"))
  colour, opacity = 0.5, 0.3  # Logits: c = tanh(0.5), a = sigmoid(0.3), the same for both sprites.
  layer["to_sprites"] = {"kernel": jnp.zeros_like(layer["to_sprites"]["kernel"]), "bias": jnp.array([colour, opacity])}
  layer["to_velocity"] = jax.tree.map(jnp.zeros_like, layer["to_velocity"])  # Still sprites.
  # Paths u = (0.25, 0.25) and (0.5, 0.5): corners fold(u) * (32 - 16) = 4 and 8 px.
  layer["to_start"] = {"kernel": jnp.zeros_like(layer["to_start"]["kernel"]), "bias": jnp.array([0.25, 0.25, 0.5, 0.5])}

  frames = np.asarray(gan.generator.apply({"params": {**params, "sprite_layers": layer}}, **latents))
  plain = gan.generator.clone(sprite_layers=0)  # The same style network without the sprites.
  want = np.array(plain.apply({"params": params}, **latents))
  c, a = np.tanh(colour), 1 / (1 + np.exp(-opacity))
  for corner in (4, 8):
    square = want[:, :, corner:corner + 16, corner:corner + 16]
    square[:] = a * c + (1 - a) * square
  np.testing.assert_allclose(frames, want, atol=1e-5)
  assert np.abs(frames - np.asarray(plain.apply({"params": params}, **latents))).max() > 0.05


@pytest.mark.parametrize("with_context", [False, True])
def test_style_warp_moves_the_previous_frame_by_its_flow(tiny_config, with_context):
  """`warp`: out_t = m_t warp(out_{t-1}, f_t) + (1 - m_t) synth_t, against scipy's bilinear sampling in a loop;
  out_{-1} is the last context frame, or out_0 = synth_0 for a whole clip."""
  from scipy import ndimage

  config = tiny_config("tiny_predict" if with_context else "tiny")
  config.model.generator = generators.default_config("style", like=config.model.generator, warp=True)
  gan = VideoGAN.from_config(config)
  k = gan.context_frames
  latents = gan.latents(jax.random.key(1), 2)
  context = jax.random.uniform(jax.random.key(5), (2, k, 32, 32, 1), minval=-1, maxval=1) if k else None
  cond = {"context": context} if k else {}
  params = gan.generator.init(jax.random.key(0), **latents, **cond)["params"]
  head = params["to_flow"]  # Flows of a few pixels and masks away from 1/2, as training gives.
  params = {**params, "to_flow": {"kernel": jax.random.normal(jax.random.key(3), head["kernel"].shape) * 2.0,
                                  "bias": jnp.array([0.7, -1.3, 0.5])}}
  frames, state = gan.generator.apply({"params": params}, **latents, **cond, mutable=["intermediates"])
  synth = np.asarray(state["intermediates"]["synth"][0], np.float64)
  head = np.asarray(state["intermediates"]["warp_head"][0], np.float64)
  flow, mask = head[..., :2], 1 / (1 + np.exp(-head[..., 2:]))
  assert np.abs(flow).max() > 1 and 0.1 < mask.mean() < 0.9
  rows, cols = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
  want = []
  prev = np.asarray(context[:, -1], np.float64) if k else None
  for t in range(synth.shape[1]):
    if prev is None:
      out = synth[:, 0]
    else:
      moved = np.stack([np.stack([ndimage.map_coordinates(prev[b, ..., c], [rows - flow[b, t, ..., 0],
                                                                             cols - flow[b, t, ..., 1]],
                                                          order=1, mode="nearest") for c in range(prev.shape[-1])],
                                 -1) for b in range(prev.shape[0])])
      out = mask[:, t] * moved + (1 - mask[:, t]) * synth[:, t]
    want.append(out)
    prev = out
  frames = np.asarray(frames)
  np.testing.assert_allclose(frames[:, k:], np.stack(want, 1), atol=1e-4)
  if k:
    np.testing.assert_array_equal(frames[:, :k], np.asarray(context))
