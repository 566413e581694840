"""Clips from real videos: file lists, clip plans, crops, and bad-file bookkeeping.

Every clip is a pure function of (seed, split, example index `i`), as for
Moving MNIST, so the data position is one number and resuming neither replays
nor skips a clip:

* the video: training walks the `N` videos epoch by epoch, epoch `e = i // N`
  in its own seeded permutation (a full shuffle, no shuffle buffer);
  evaluation walks them in sorted order;
* the frames: `clip_len` frames resampled to `config.fps` (see `video_file`),
  from a random start in training and from frame 0 in evaluation;
* the pixels: shorter side scaled to `image_size`, then a random (training,
  `data.crop="random"`) or centre square crop and an optional random flip.

A video that cannot be read (corrupt, truncated, not a video, too short with
`data.short_videos="skip"`) is recorded in `BadFiles` and the clip is taken
from the next video of the permutation instead, so a batch is always full and
the choice is still deterministic.
"""

import dataclasses
import hashlib
import logging
import threading
from pathlib import Path

import numpy as np

from videogan.data import video_file

SPLITS = ("train", "test")
_SPLIT_KEY = {"train": 0, "test": 1}


class BadFiles:
  """Thread-safe record of skipped videos: path -> reason."""

  def __init__(self):
    self._lock = threading.Lock()
    self._reasons: dict[str, str] = {}
    self._logged = 0

  def add(self, path: str, reason: str) -> None:
    with self._lock:
      self._reasons.setdefault(str(path), reason)

  def __contains__(self, path: str) -> bool:
    return str(path) in self._reasons

  def __len__(self) -> int:
    return len(self._reasons)

  def items(self) -> list[tuple[str, str]]:
    with self._lock:
      return list(self._reasons.items())

  def log_new(self, logger=logging) -> None:
    """Logs the files skipped since the last call, then a running total."""
    with self._lock:
      new = list(self._reasons.items())[self._logged :]
      self._logged = len(self._reasons)
    for path, reason in new:
      logger.warning("Skipped video %s: %s", path, reason)
    if new:
      logger.warning("%d unreadable or unusable video(s) skipped so far.", self._logged)


@dataclasses.dataclass(frozen=True)
class VideoList:
  """The videos of one split, sorted by path, with class labels (-1: none)."""

  paths: tuple[str, ...]
  labels: tuple[int, ...]
  classes: tuple[str, ...]


def _hash_fraction(text: str) -> float:
  """A deterministic number in [0, 1) from `text` (stable across machines and runs)."""
  return int(hashlib.sha1(text.encode()).hexdigest()[:12], 16) / 16**12


def list_videos(root: str | Path, split: str, eval_fraction: float) -> VideoList:
  """Videos under `root` (recursive) that belong to `split`.

  If `root` has `train/` and `test/` sub-folders they are the splits;
  otherwise a video is in "test" when a hash of its path relative to `root` is
  below `eval_fraction`. Labels: the name of the first sub-folder under the
  split's root, sorted alphabetically into class ids; videos directly in the
  split's root get -1.

  Raises:
    FileNotFoundError: `root` is missing or holds no file with a video extension.
  """
  root = Path(root).expanduser()
  if not root.is_dir():
    raise FileNotFoundError(f"{root}: no such directory.")
  split_dirs = all((root / s).is_dir() for s in SPLITS)
  base = root / split if split_dirs else root
  files = sorted(p for p in base.rglob("*") if p.suffix.lower() in video_file.EXTENSIONS and p.is_file())
  if not files:
    raise FileNotFoundError(
        f"{root}: no video files ({', '.join(video_file.EXTENSIONS)}) under {base}."
    )
  if not split_dirs:
    files = [p for p in files if (_hash_fraction(p.relative_to(root).as_posix()) < eval_fraction) == (split == "test")]
    if not files:
      raise FileNotFoundError(
          f"{root}: the {split!r} split is empty (split by a hash of each path with eval_fraction="
          f"{eval_fraction}); add videos, change eval_fraction, or use train/ and test/ folders."
      )
  rel = [p.relative_to(base).parts for p in files]
  classes = tuple(sorted({parts[0] for parts in rel if len(parts) > 1}))
  class_id = {c: i for i, c in enumerate(classes)}
  labels = tuple(class_id[parts[0]] if len(parts) > 1 else -1 for parts in rel)
  return VideoList(tuple(str(p) for p in files), labels, classes)


@dataclasses.dataclass(frozen=True)
class ClipSpec:
  """What a clip is made of, from `config`."""

  clip_len: int
  image_size: int
  channels: int
  shorter_side: int  # Frames are scaled so their shorter side is this before cropping; 0: native size.
  fps: float  # Frames are resampled to this rate.
  frame_stride: int
  short_videos: str  # "skip" or "pad"
  random_crop: bool
  random_flip: bool

  @classmethod
  def from_config(cls, config, train: bool) -> "ClipSpec":
    return cls(
        clip_len=config.data.clip_len, image_size=config.data.image_size, channels=config.data.channels,
        shorter_side=config.data.image_size if config.data.shorter_side is None else config.data.shorter_side,
        fps=config.fps, frame_stride=config.data.frame_stride, short_videos=config.data.short_videos,
        random_crop=train and config.data.crop == "random", random_flip=train and config.data.random_flip,
    )


  def scaled_size(self, width: int, height: int) -> tuple[int, int]:
    """(width, height) of a `width` x `height` video's frames before the crop.

    The shorter side becomes `shorter_side`, or stays as it is with 0 (native
    resolution crops, e.g. for the enhancer), never below `image_size`.
    """
    side = self.shorter_side or min(width, height)
    return video_file.scaled_size(width, height, max(side, self.image_size))


class TooShort(Exception):
  pass


def plan_frames(num_frames: int, src_fps: float, spec: ClipSpec, u: float | None) -> np.ndarray:
  """Source frame numbers of a clip; `u` in [0, 1) picks the start (None: frame 0)."""
  step = video_file.frame_step(src_fps, spec.fps, spec.frame_stride)
  span = video_file.clip_span(spec.clip_len, step)
  starts = num_frames - span + 1
  if starts < 1:
    if spec.short_videos == "skip" or num_frames < 1:
      raise TooShort(f"too short: {num_frames} frames at {src_fps:g} fps, a clip needs {span} "
                     f"({spec.clip_len} frames at {spec.fps:g} fps, stride {spec.frame_stride})")
    return np.minimum(video_file.frame_indices(0, spec.clip_len, step), num_frames - 1)  # Pad with the last frame.
  start = 0 if u is None else min(int(u * starts), starts - 1)
  return video_file.frame_indices(start, spec.clip_len, step)


def crop_and_flip(frames: np.ndarray, size: int, rng: np.random.Generator | None, flip: bool) -> np.ndarray:
  """Square `size` crop of `[T, H, W, C]` (random with `rng`, else centred), then maybe a mirror."""
  _, h, w, _ = frames.shape
  if rng is None:
    y, x = (h - size) // 2, (w - size) // 2
  else:
    y, x = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
  frames = frames[:, y : y + size, x : x + size]
  return frames[:, :, ::-1] if flip else frames


def clip_rng(seed: int, split: str, index: int) -> np.random.Generator:
  return np.random.default_rng([seed, _SPLIT_KEY[split], index])


class VideoOrder:
  """Which video example `i` reads: a seeded permutation per epoch (`shuffle`) or sorted order."""

  def __init__(self, num_videos: int, seed: int, split: str, shuffle: bool):
    self.num_videos, self.seed, self.split, self.shuffle = num_videos, seed, split, shuffle
    self._permutations: dict[int, np.ndarray] = {}

  def _permutation(self, epoch: int) -> np.ndarray:
    if epoch not in self._permutations:
      if len(self._permutations) > 2:  # Readers are at most an epoch boundary apart.
        self._permutations.pop(min(self._permutations))
      self._permutations[epoch] = np.random.default_rng([self.seed, _SPLIT_KEY[self.split], 7919, epoch]).permutation(
          self.num_videos)
    return self._permutations[epoch]

  def candidates(self, index: int):
    """Video ids for example `index`: its own first, then the next ones of its epoch as fallbacks."""
    epoch, pos = divmod(index, self.num_videos)
    order = self._permutation(epoch) if self.shuffle else np.arange(self.num_videos)
    for k in range(self.num_videos):
      yield int(order[(pos + k) % self.num_videos])


class FolderSource:
  """`data.source="folder"`: decodes each clip from its video file with ffmpeg."""

  def __init__(self, videos: VideoList, spec: ClipSpec, seed: int, split: str, training: bool, bad_files: BadFiles):
    self.videos, self.spec, self.seed, self.split, self.bad_files = videos, spec, seed, split, bad_files
    self.training = training
    self.order = VideoOrder(len(videos.paths), seed, split, shuffle=training)
    self._info: dict[str, video_file.VideoInfo] = {}
    self._exact_frames: dict[str, int] = {}

  def _read(self, path: str, rng: np.random.Generator) -> np.ndarray:
    spec = self.spec
    info = self._info.get(path) or self._info.setdefault(path, video_file.probe(path))
    u = rng.random() if self.training else None
    num_frames = self._exact_frames.get(path, info.num_frames)
    size = spec.scaled_size(info.width, info.height)
    for _ in range(2):
      indices = plan_frames(num_frames, info.fps, spec, u)
      frames = video_file.read_frames(path, indices, size, spec.channels)
      if len(frames) == spec.clip_len:
        break
      if path in self._exact_frames:  # The exact count was already used; should not happen.
        raise video_file.VideoError(path, f"decoded {len(frames)} of {spec.clip_len} frames")
      # The header overstated the length: count the frames (a property of the
      # file, so the retry is as deterministic as the first try).
      num_frames = self._exact_frames.setdefault(path, video_file.count_frames(path))
    flip = spec.random_flip and rng.random() < 0.5
    return crop_and_flip(frames, spec.image_size, rng if spec.random_crop else None, flip)

  def clip(self, index: int) -> tuple[np.ndarray, int, str]:
    """Example `index` as (uint8 [T, S, S, C], label, path)."""
    for video_id in self.order.candidates(index):
      path = self.videos.paths[video_id]
      if path in self.bad_files:
        continue
      try:
        return self._read(path, clip_rng(self.seed, self.split, index)), self.videos.labels[video_id], path
      except video_file.VideoError as e:
        self.bad_files.add(path, e.reason)
      except TooShort as e:
        self.bad_files.add(path, str(e))
    raise RuntimeError(f"none of the {len(self.videos.paths)} videos of the {self.split!r} split is usable; "
                       f"first skipped: {self.bad_files.items()[:3]}")


def first_readable(videos: VideoList, spec: ClipSpec) -> str:
  """Path of the first video (sorted) that makes a clip; raises `FileNotFoundError` if none does."""
  reasons = []
  for path in videos.paths:
    try:
      info = video_file.probe(path)
      plan_frames(info.num_frames, info.fps, spec, None)
      return path
    except (video_file.VideoError, TooShort) as e:
      reasons.append(f"{path}: {getattr(e, 'reason', e)}")
  shown = "; ".join(reasons[:5]) + (f"; and {len(reasons) - 5} more" if len(reasons) > 5 else "")
  raise FileNotFoundError(f"no usable video among {len(videos.paths)} file(s): {shown}")
