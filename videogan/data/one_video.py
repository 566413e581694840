"""One video as a dataset: windows of its first part for training, of its last part for evaluation.

`data.folder` may name a single video file. Its frames are decoded once,
resampled to `config.fps` and scaled (shorter side `image_size`), and kept in
memory (a 10 s clip at 64 px is ~3 MB). The video's duration is split in time:

  frames [0, n_train)        the training part: windows start anywhere in it
  frames [n_train, n)        the held-out part (`data.holdout_fraction` of the
                             frames, the end of the video): never trained on

with n_train = n - round(n * holdout_fraction). A window is `clip_len`
consecutive frames wholly inside one part, so no training clip holds a
held-out frame (tests/test_one_video.py checks every start).

Training window i: a random start, crop and flip from (seed, i), as the folder
source draws them. Evaluation window i (of either part) is combination i of a
fixed permutation of the part's (start, crop, flip) combinations: every start,
the crop's left edge at `EVAL_CROPS` places across the frame, and both mirror
images if training mirrors (`data.random_flip`). The first S * len(EVAL_CROPS)
* 2 (or * 1) windows are all different, and any first n of them a fair mix.
"""

import dataclasses
import threading

import numpy as np

from videogan.data import video_file, video_source

EVAL_CROPS = (0.5, 0.0, 1.0, 0.25, 0.75)  # Left edge as a fraction of the free width (centre first).


@dataclasses.dataclass(frozen=True)
class Parts:
  """The frames of one video at the target fps and where it is cut."""

  frames: np.ndarray  # uint8 [n, H, W, C], shorter side scaled to image_size
  n_train: int

  def starts(self, split: str, clip_len: int) -> range:
    """Window starts wholly inside `split`'s part."""
    lo, hi = (0, self.n_train) if split == "train" else (self.n_train, len(self.frames))
    return range(lo, max(lo, hi - clip_len + 1))


def split_point(num_frames: int, holdout_fraction: float) -> int:
  """n_train: the first frame of the held-out part."""
  return num_frames - int(round(num_frames * holdout_fraction))


def decode(path: str, fps: float, image_size: int, channels: int) -> np.ndarray:
  """All frames of `path` at `fps`, shorter side `image_size`: uint8 [n, H, W, C]."""
  info = video_file.probe(path)
  num_frames = video_file.count_frames(path)
  step = video_file.frame_step(info.fps, fps)
  indices = video_file.frame_indices(0, int(np.floor((num_frames - 1) / step + 1e-9)) + 1, step)
  size = video_file.scaled_size(info.width, info.height, image_size)
  return video_file.read_frames(path, indices, size, channels)


def load_parts(path: str, fps: float, image_size: int, channels: int, holdout_fraction: float,
               clip_len: int) -> Parts:
  """The video cut into its two parts; `TooShort` (naming the file and what is needed) if a part holds no window."""
  frames = decode(path, fps, image_size, channels)
  parts = Parts(frames, split_point(len(frames), holdout_fraction))
  for split in ("train", "test") if holdout_fraction > 0 else ("train",):
    if not parts.starts(split, clip_len):
      size = parts.n_train if split == "train" else len(frames) - parts.n_train
      raise video_source.TooShort(
          f"{len(frames)} frames at {fps:g} fps with data.holdout_fraction={holdout_fraction} leave "
          f"{size} frames to the {'training' if split == 'train' else 'held-out'} part; a window needs "
          f"data.clip_len={clip_len}. Use a longer video or change data.holdout_fraction.")
  return parts


def eval_order(combos: int) -> np.ndarray:
  """A fixed permutation of a part's (start, crop, flip) combinations: any first n of them are a fair mix."""
  return np.random.default_rng(20261207).permutation(combos)


def crop_x(width: int, size: int, place: float) -> int:
  return int(round((width - size) * place))


class OneVideoSource:
  """`data.folder` = one file: clip `i` of a split as (uint8 [T, S, S, C], label -1, path)."""

  def __init__(self, path: str, spec: video_source.ClipSpec, holdout_fraction: float, seed: int, split: str,
               training: bool, mirror: bool):
    """`mirror`: evaluation windows include mirror images (as training clips do with `data.random_flip`)."""
    self.path, self.spec, self.holdout_fraction, self.flips = path, spec, holdout_fraction, 2 if mirror else 1
    self.seed, self.split, self.training = seed, split, training
    self._parts: Parts | None = None
    self._lock = threading.Lock()

  @property
  def parts(self) -> Parts:
    with self._lock:
      if self._parts is None:
        self._parts = load_parts(self.path, self.spec.fps, self.spec.image_size, self.spec.channels,
                                 self.holdout_fraction, self.spec.clip_len)
      return self._parts

  def window(self, index: int) -> tuple[int, int, int, bool]:
    """Example `index`'s (start frame, crop top, crop left, mirrored)."""
    spec, parts = self.spec, self.parts
    starts = parts.starts(self.split, spec.clip_len)
    _, h, w, _ = parts.frames.shape
    if self.training:
      rng = video_source.clip_rng(self.seed, self.split, index)
      start = starts[int(rng.integers(len(starts)))]
      if spec.random_crop:
        y, x = int(rng.integers(h - spec.image_size + 1)), int(rng.integers(w - spec.image_size + 1))
      else:
        y, x = (h - spec.image_size) // 2, (w - spec.image_size) // 2
      return start, y, x, bool(spec.random_flip and rng.random() < 0.5)
    crops = list(dict.fromkeys(crop_x(w, spec.image_size, place) for place in EVAL_CROPS))  # Distinct, in order.
    combos = len(starts) * len(crops) * self.flips
    start, rest = divmod(int(eval_order(combos)[index % combos]), len(crops) * self.flips)
    crop, flip = divmod(rest, self.flips)
    return starts[start], (h - spec.image_size) // 2, crops[crop], bool(flip)

  def clip(self, index: int) -> tuple[np.ndarray, int, str]:
    start, y, x, flip = self.window(index)
    size = self.spec.image_size
    frames = self.parts.frames[start : start + self.spec.clip_len, y : y + size, x : x + size]
    return (frames[:, :, ::-1] if flip else frames), -1, self.path
