"""Digit score: how many of a Moving MNIST generator's glyphs a digit classifier can read.

FVD compares I3D features learnt on Kinetics; it ranks clips but cannot say
whether a glyph is a digit. This score reads the glyphs themselves:

1. glyphs: every bright component of a frame (pixels > 127, 8-connected, at
   least `MIN_PIXELS` of them) with the grey pixels within `HALO` px around it,
   cropped, scaled so its longer side is 20 px and centred by its centre of mass
   in 28 x 28, as MNIST's digits were normalised (LeCun et al. 1998);
2. a small CNN trained on MNIST's 60k train digits plus an 11th class, "junk":
   pieces of digits (halves, windows), two overlapping digits, random strokes,
   box outlines and blobs, all normalised as in 1. It is trained once per recipe
   (`RECIPE`) and kept as an `.npz` in `config.fvd.cache_dir`;
3. the score: the share of glyphs read as a digit with p > `SURE`, with glyphs
   and bright pixels per frame and the sure reads' classes, for the generated
   clips and for real test clips side by side. Real clips are the ceiling, and
   it is below 1: two digits that touch are one glyph, read as junk (0.68 of
   1.62 glyphs per frame in 256 test clips).

`--mode eval` adds it to `fvd_step_N.json` for `data.source="moving_mnist"`.
"""

import hashlib
import json
import zipfile

import flax.linen as nn
import jax
import ml_collections
import numpy as np
import optax
from absl import logging
from etils import epath
from flax import traverse_util
from scipy import ndimage

from videogan import paths
from videogan.data import mnist

THRESHOLD = 127  # A glyph's core: pixels brighter than this (uint8).
MIN_PIXELS = 12  # Smaller cores are specks, not glyphs.
HALO = 2  # Grey pixels this close to a core belong to its glyph (its anti-aliased edge).
SURE = 0.9  # A glyph counts as a digit when the classifier gives one digit more than this.
JUNK = 10  # The 11th class.
EIGHT_CONNECTED = np.ones((3, 3), bool)
RECIPE = {  # What the classifier depends on; its hash names the cached weights (bump version with the code).
    "version": 1, "net": "conv16/2-conv32/2-dense64", "digits": "MNIST train (60k)", "junk": 20000,
    "steps": 2000, "batch": 128, "lr": 2e-3, "seed": 0, "normalise": "longer side 20, centre of mass in 28x28",
}


# ----------------------------------------------------------------------------- glyphs


def _resize_matrix(in_size: int, out_size: int) -> np.ndarray:
  """[out, in] weights of antialiased linear resampling (a triangle filter widened when shrinking)."""
  scale = out_size / in_size
  support = max(1.0, 1.0 / scale)  # Shrinking widens the filter so every input pixel counts.
  centres = (np.arange(out_size) + 0.5) / scale - 0.5
  weights = np.maximum(0.0, 1.0 - np.abs(np.arange(in_size)[None, :] - centres[:, None]) / support)
  return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def normalise(patch: np.ndarray) -> np.ndarray:
  """A glyph's tight crop [h, w] in [0, 1] -> float32 [28, 28]: longer side 20 px, centre of mass at the centre."""
  h, w = patch.shape
  scale = 20 / max(h, w)
  out_h, out_w = max(1, round(h * scale)), max(1, round(w * scale))
  small = _resize_matrix(h, out_h) @ patch.astype(np.float32) @ _resize_matrix(w, out_w).T
  out = np.zeros((28, 28), np.float32)
  if small.sum() <= 0:
    return out
  cy, cx = ndimage.center_of_mass(small)
  top = int(np.clip(round(13.5 - cy), 0, 28 - out_h))
  left = int(np.clip(round(13.5 - cx), 0, 28 - out_w))
  out[top : top + out_h, left : left + out_w] = small
  return out


def tight_crop(image: np.ndarray) -> np.ndarray:
  """The smallest box holding every non-zero pixel (an empty image stays as it is)."""
  rows, cols = np.nonzero(image)
  if not len(rows):
    return image
  return image[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def glyphs(frame: np.ndarray) -> list[np.ndarray]:
  """uint8 [H, W] -> each glyph (item 1 of the module docstring) as float32 [28, 28] in [0, 1]."""
  frame = np.asarray(frame)
  labels, _ = ndimage.label(frame > THRESHOLD, structure=EIGHT_CONNECTED)
  out = []
  for index, box in enumerate(ndimage.find_objects(labels), start=1):
    if box is None:
      continue
    core = labels[box] == index
    if core.sum() < MIN_PIXELS:
      continue
    # The core's box grown by the halo, then the core dilated within it: its grey edge, not its neighbours'.
    grown = tuple(slice(max(0, s.start - HALO), min(n, s.stop + HALO)) for s, n in zip(box, frame.shape, strict=True))
    core = labels[grown] == index
    mask = ndimage.binary_dilation(core, EIGHT_CONNECTED, iterations=HALO)
    out.append(normalise(tight_crop(np.where(mask, frame[grown], 0).astype(np.float32) / 255.0)))
  return out


# ----------------------------------------------------------------------------- the classifier


class Classifier(nn.Module):
  """28 x 28 glyphs -> 11 logits (10 digits and junk)."""

  @nn.compact
  def __call__(self, x):  # [N, 28, 28] in [0, 1]
    x = x[..., None]
    for width in (16, 32):  # 28 -> 14 -> 7 px.
      x = nn.relu(nn.Conv(width, (5, 5), strides=(2, 2))(x))
    x = nn.relu(nn.Dense(64)(x.reshape(len(x), -1)))
    return nn.Dense(JUNK + 1)(x)


def _stroke_image(rng: np.random.Generator) -> np.ndarray:
  """2-3 random quadratic curves, 1-2.5 px thick, in a 28 x 28 image (one alone would often be a 1)."""
  yy, xx = np.mgrid[0:28, 0:28].astype(np.float32)
  image = np.zeros((28, 28), np.float32)
  for _ in range(rng.integers(2, 4)):
    p0, p1, p2 = rng.uniform(4, 24, (3, 2))
    t = np.linspace(0, 1, 40)[:, None]
    points = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2
    distance = np.sqrt((yy[..., None] - points[:, 0]) ** 2 + (xx[..., None] - points[:, 1]) ** 2).min(-1)
    image = np.maximum(image, np.clip(rng.uniform(1.0, 2.5) + 0.5 - distance, 0, 1))
  return image


def _box_image(rng: np.random.Generator) -> np.ndarray:
  """The outline of a rectangle, 1-3 px thick (a sprite's border)."""
  image = np.zeros((28, 28), np.float32)
  h, w = rng.integers(8, 27, 2)
  t = rng.integers(1, 4)
  image[:h, :w] = 1.0
  image[t : h - t, t : w - t] = 0.0
  return image


def _blob_image(rng: np.random.Generator) -> np.ndarray:
  """Smoothed noise, thresholded: shapeless bright regions."""
  noise = ndimage.gaussian_filter(rng.normal(size=(28, 28)), rng.uniform(1.0, 3.0))
  return np.clip((noise - np.quantile(noise, rng.uniform(0.6, 0.9))) * 8 / noise.std(), 0, 1).astype(np.float32)


def junk(digits: np.ndarray, labels: np.ndarray, num: int, seed: int) -> np.ndarray:
  """`num` normalised glyphs that are not one whole digit, from uint8 digits [N, 28, 28] and six recipes."""
  rng = np.random.default_rng(seed)
  out = np.zeros((num, 28, 28), np.float32)
  not_ones = np.flatnonzero(labels != 1)  # Any piece of a 1 is a 1.
  for i in range(num):
    kind = rng.integers(6)
    digit = digits[rng.choice(not_ones)].astype(np.float32) / 255.0
    if kind == 0:  # A half: the top, bottom, left or right of a digit.
      digit = tight_crop(digit)
      h, w = digit.shape
      side = rng.integers(4)
      image = [digit[: h // 2], digit[h // 2 :], digit[:, : w // 2], digit[:, w // 2 :]][side]
    elif kind == 1:  # A window of 6-14 px into a digit.
      size = rng.integers(6, 15, 2)
      top, left = rng.integers(2, 29 - size)
      image = digit[top : top + size[0], left : left + size[1]]
    elif kind == 2:  # Two digits overlapping, 5-15 px apart.
      other = digits[rng.integers(len(digits))].astype(np.float32) / 255.0
      dy, dx = rng.integers(-15, 16, 2)
      while max(abs(dy), abs(dx)) < 5:
        dy, dx = rng.integers(-15, 16, 2)
      image = np.zeros((60, 60), np.float32)
      image[16:44, 16:44] = digit
      image[16 + dy : 44 + dy, 16 + dx : 44 + dx] = np.maximum(image[16 + dy : 44 + dy, 16 + dx : 44 + dx], other)
    else:
      image = [_stroke_image, _box_image, _blob_image][kind - 3](rng)
    cropped = tight_crop(np.where(image > 0.02, image, 0))
    if cropped.any():
      out[i] = normalise(cropped)
  return out


def _cache_path(cache_dir: str) -> epath.Path:
  digest = hashlib.sha1(json.dumps(RECIPE, sort_keys=True).encode()).hexdigest()[:16]
  return paths.resolve(cache_dir) / f"digit_classifier_{digest}.npz"


def train_classifier(data: tuple[np.ndarray, np.ndarray], recipe: dict = RECIPE) -> dict:
  """`Classifier`'s params after `recipe["steps"]` Adam steps on (uint8 digits, labels), normalised, plus junk."""
  images, labels = data
  glyph_images = np.stack([normalise(tight_crop(d.astype(np.float32) / 255.0)) for d in images])
  junk_images = junk(images, labels, recipe["junk"], recipe["seed"])
  x = np.concatenate([glyph_images, junk_images])
  y = np.concatenate([labels, np.full(len(junk_images), JUNK)]).astype(np.int32)
  model, tx = Classifier(), optax.adam(recipe["lr"])
  params = model.init(jax.random.key(recipe["seed"]), x[:1])["params"]
  opt_state = tx.init(params)

  @jax.jit
  def step(params, opt_state, xb, yb):
    def loss_fn(p):  # Mean cross-entropy: -log softmax(f(x))_y.
      return optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": p}, xb), yb).mean()

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state)
    return optax.apply_updates(params, updates), opt_state, loss

  rng = np.random.default_rng(recipe["seed"])
  order = np.concatenate([rng.permutation(len(x)) for _ in range(recipe["steps"] * recipe["batch"] // len(x) + 1)])
  for i in range(recipe["steps"]):
    idx = order[i * recipe["batch"] : (i + 1) * recipe["batch"]]
    params, opt_state, loss = step(params, opt_state, x[idx], y[idx])
    if i % 200 == 0:
      logging.info("Digit classifier: step %d/%d, loss %.3f.", i, recipe["steps"], float(loss))
  return jax.device_get(params)


def load_classifier(config: ml_collections.ConfigDict):
  """`probabilities(glyphs [N, 28, 28]) -> [N, 11]`, training the classifier once per recipe and cache dir."""
  path = _cache_path(config.fvd.cache_dir)
  params = None
  if path.is_file():
    try:
      with path.open("rb") as file, np.load(file, allow_pickle=False) as f:
        params = traverse_util.unflatten_dict({tuple(k.split("/")): f[k] for k in f.files})
      logging.info("Digit classifier from %s.", path)
    except (OSError, ValueError, zipfile.BadZipFile) as e:
      logging.warning("Digit classifier %s is unreadable (%s); training it again.", path, e)
  if params is None:
    data = config.data
    params = train_classifier(mnist.load_labelled("train", data.mnist_source, data.tfds_data_dir, data.download))
    try:
      with paths.local_staging(path) as tmp:  # Written whole, then renamed (or uploaded).
        np.savez(tmp, **{"/".join(k): v for k, v in traverse_util.flatten_dict(params).items()})
      logging.info("Digit classifier trained and cached in %s.", path)
    except OSError as e:  # A read-only or full cache dir: train again next time, keep this evaluation.
      logging.warning("Digit classifier not cached in %s (%s).", path, e)
  apply = jax.jit(lambda x: jax.nn.softmax(Classifier().apply({"params": params}, x)))

  def probabilities(images: np.ndarray, batch: int = 256) -> np.ndarray:
    out = [np.zeros((0, JUNK + 1), np.float32)]
    for i in range(0, len(images), batch):
      chunk = images[i : i + batch]
      padded = np.concatenate([chunk, np.zeros((batch - len(chunk), 28, 28), chunk.dtype)])  # One compiled shape.
      out.append(np.asarray(apply(padded))[: len(chunk)])
    return np.concatenate(out)

  return probabilities


# ----------------------------------------------------------------------------- the score


def applies(config: ml_collections.ConfigDict) -> bool:
  """Whether the config's clips are Moving MNIST's: grey MNIST digits on black."""
  return config.data.source == "moving_mnist" and config.data.channels == 1


def score(clips: np.ndarray, probabilities, first_frame: int = 0) -> dict:
  """Digit score of uint8 clips [N, T, H, W, 1] (module docstring, item 3), every frame read from `first_frame` on.

  A model that continues given frames (`model.context_frames`) is scored from
  the first frame it made, not on the real ones it was given.
  """
  clips = np.asarray(clips)
  if clips.ndim != 5 or clips.shape[-1] != 1:
    raise ValueError(f"Digit score: expected grey uint8 clips [N, T, H, W, 1], got shape {clips.shape}.")
  frames = clips[:, first_frame:, ..., 0].reshape(-1, *clips.shape[2:4])
  found = [g for frame in frames for g in glyphs(frame)]
  p = probabilities(np.stack(found)) if found else np.zeros((0, JUNK + 1), np.float32)
  sure = p[:, :JUNK].max(axis=1) > SURE
  return {
      "score": float(sure.mean()) if len(p) else 0.0,
      "glyphs_per_frame": len(found) / len(frames),
      "bright_pixels_per_frame": float((frames > THRESHOLD).sum() / len(frames)),
      "sure_classes": np.bincount(p[sure, :JUNK].argmax(axis=1), minlength=JUNK).tolist(),
  }


def report(config: ml_collections.ConfigDict, generated: np.ndarray, real: np.ndarray, first_frame: int = 0) -> dict:
  """The digit score of generated clips beside real clips', both from `first_frame` on (`score`), with the recipe."""
  probabilities = load_classifier(config)
  out = {"generated": score(generated, probabilities, first_frame), "real": score(real, probabilities, first_frame),
         "recipe": {**RECIPE, "threshold": THRESHOLD, "min_pixels": MIN_PIXELS, "halo": HALO, "sure": SURE,
                    "num_generated": len(generated), "num_real": len(real), "first_frame": first_frame}}
  g, r = out["generated"], out["real"]
  logging.info("Digit score: %.3f of %.2f glyphs per frame read as digits with p > %g (real clips: %.3f of %.2f).",
               g["score"], g["glyphs_per_frame"], SURE, r["score"], r["glyphs_per_frame"])
  return out
