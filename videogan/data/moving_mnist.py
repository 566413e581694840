"""Moving MNIST generated on the fly in tf.data (Srivastava et al., 2015).

Each clip places `num_digits` 28x28 MNIST digits on a `canvas_size`^2 black
canvas. Every digit starts at a uniformly random position, moves in a uniformly
random direction at `step_length` (in units of the free range
`canvas_size - 28`) per frame, and bounces elastically off the walls; digits are
combined by a pixel-wise max.

A clip is a pure function of (seed, split, example index): all randomness comes
from `tf.random.stateless_*` ops keyed on those, so any clip can be regenerated
without replaying the stream, and a resumed run continues exactly where it
stopped.
"""

import tensorflow as tf

DIGIT_SIZE = 28


def clip_params(seed: int, index, num_digits: int, num_images: int) -> dict[str, tf.Tensor]:
  """Random draws of one clip: which digits, where they start, where they head.

  Returns:
    digit_ids: int64 [num_digits] indices into the digit images.
    start: float32 [num_digits, 2] start (y, x) in [0, 1] of the free range.
    theta: float32 [num_digits] direction of motion in radians.
  """
  key = tf.stack([tf.cast(seed, tf.int64), tf.cast(index, tf.int64)])
  ids_key, start_key, theta_key = tf.unstack(tf.random.experimental.stateless_split(key, 3))
  digit_ids = tf.random.stateless_uniform(
      [num_digits], ids_key, minval=0, maxval=num_images, dtype=tf.int64
  )
  start = tf.random.stateless_uniform([num_digits, 2], start_key)
  theta = tf.random.stateless_uniform([num_digits], theta_key, maxval=2 * 3.141592653589793)
  return {"digit_ids": digit_ids, "start": start, "theta": theta}


def trajectories(start: tf.Tensor, theta: tf.Tensor, clip_len: int, step_length: float) -> tf.Tensor:
  """Positions `[clip_len, num_digits, 2]` in [0, 1] of digits bouncing off walls.

  Elastic bouncing in a box [0, 1] is motion on the unfolded line p0 + v t
  folded back by the triangle wave  fold(u) = 1 - |(u mod 2) - 1|.
  """
  velocity = step_length * tf.stack([tf.sin(theta), tf.cos(theta)], axis=-1)  # [n, 2]
  t = tf.range(clip_len, dtype=tf.float32)[:, None, None]
  unfolded = start[None] + t * velocity[None]
  return 1.0 - tf.abs(tf.math.floormod(unfolded, 2.0) - 1.0)


def pixel_positions(positions: tf.Tensor, canvas_size: int) -> tf.Tensor:
  """Top-left corners (int32) of the digits for positions in [0, 1]."""
  return tf.cast(tf.round(positions * (canvas_size - DIGIT_SIZE)), tf.int32)


def render(digits: tf.Tensor, corners: tf.Tensor, canvas_size: int) -> tf.Tensor:
  """Pastes digits at integer corners and combines them by max.

  Args:
    digits: uint8 [num_digits, 28, 28].
    corners: int32 [clip_len, num_digits, 2] top-left (y, x) of each digit.
    canvas_size: side of the square canvas.

  Returns:
    uint8 [clip_len, canvas_size, canvas_size].
  """
  # A translation by c is the 0/1 matrix S[r, a] = [r == a + c]; the placed
  # digit is S_y @ digit @ S_x^T. Entries are exact in float32 (0..255 sums of
  # a single term), so this is an exact paste written as two batched matmuls.
  rows = tf.range(canvas_size)[None, None, :, None]
  cols = tf.range(DIGIT_SIZE)[None, None, None, :]
  shift_y = tf.cast(tf.equal(rows, cols + corners[..., 0, None, None]), tf.float32)
  shift_x = tf.cast(tf.equal(rows, cols + corners[..., 1, None, None]), tf.float32)
  # Digits are tiled over time explicitly: TF's oneDNN batched matmul with a
  # broadcast batch dimension returned garbage (and crashed) for one digit.
  digits = tf.broadcast_to(tf.cast(digits, tf.float32)[None], tf.concat([tf.shape(shift_y)[:2], [DIGIT_SIZE, DIGIT_SIZE]], 0))
  placed = shift_y @ digits @ tf.transpose(shift_x, [0, 1, 3, 2])
  return tf.cast(tf.reduce_max(placed, axis=1), tf.uint8)


def make_clip_fn(
    digits: tf.Tensor,
    *,
    seed: int,
    clip_len: int,
    canvas_size: int,
    num_digits: int,
    step_length: float,
):
  """Returns `index -> {"video": float32 [clip_len, H, W, 1] in [-1, 1]}`."""
  num_images = int(digits.shape[0])

  def clip_fn(index):
    params = clip_params(seed, index, num_digits, num_images)
    positions = trajectories(params["start"], params["theta"], clip_len, step_length)
    frames = render(tf.gather(digits, params["digit_ids"]), pixel_positions(positions, canvas_size), canvas_size)
    video = tf.cast(frames, tf.float32)[..., None] / 127.5 - 1.0
    return {"video": video}

  return clip_fn
