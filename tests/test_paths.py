"""videogan/paths.py on local disk (tests/test_gcs.py covers gs:// through a whole run)."""

import os

import pytest

from videogan import paths


def test_resolve_and_is_local(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  assert str(paths.resolve("a/b")) == str(tmp_path / "a" / "b")
  assert str(paths.resolve("gs://bucket/run")) == "gs://bucket/run"  # Not ./gs:/bucket/run
  assert paths.is_local("/x") and not paths.is_local("gs://b/x")


def test_local_staging_replaces_in_one_piece_and_leaves_nothing_on_failure(tmp_path):
  target = tmp_path / "out" / "clip.mp4"
  with paths.local_staging(target) as tmp:
    assert tmp.endswith(".mp4") and os.path.dirname(tmp) == str(target.parent)
    with open(tmp, "w") as f:
      f.write("new")
  assert target.read_text() == "new" and oct(target.stat().st_mode & 0o777) == "0o644"
  with pytest.raises(RuntimeError), paths.local_staging(target) as tmp:
    with open(tmp, "w") as f:
      f.write("half")
    raise RuntimeError("ffmpeg failed")
  assert target.read_text() == "new" and sorted(p.name for p in target.parent.iterdir()) == ["clip.mp4"]
  paths.write_text_atomically(tmp_path / "r.json", "{}")
  assert (tmp_path / "r.json").read_text() == "{}"


def test_move_tree_and_local_copy(tmp_path):
  src = tmp_path / "checkpoints" / "7"
  (src / "state").mkdir(parents=True)
  (src / "state" / "a").write_text("1")
  paths.move_tree(src, tmp_path / "aside" / "7")
  assert not src.exists() and (tmp_path / "aside" / "7" / "state" / "a").read_text() == "1"
  with paths.local_copy(tmp_path / "aside" / "7" / "state" / "a") as local:
    assert open(local).read() == "1"


def test_video_outputs_mkv_and_default_mp4_are_lossless_and_crf_sets_mp4_quality(tmp_path):
  import numpy as np

  from videogan import video_io

  # A smooth moving gradient: what h264 is made for, so its quality follows the CRF.
  t, y, x = np.meshgrid(np.arange(8), np.arange(48), np.arange(64), indexing="ij")
  frames = np.stack([(x * 3 + t * 5) % 256, (y * 4 + t * 3) % 256, (x + y) * 2 % 256], -1).astype(np.uint8)
  video_io.write_video(tmp_path / "v.mkv", frames, fps=10)
  back, fps = video_io.read_video(tmp_path / "v.mkv")
  assert fps == 10 and np.array_equal(back, frames)  # FFV1 with RGB planes: bit for bit.

  def psnr(path):
    decoded = video_io.read_video(path)[0].astype(np.float64)
    return 10 * np.log10(255**2 / np.mean((decoded - frames) ** 2))

  video_io.write_video(tmp_path / "good.mp4", frames, fps=10, crf=5)
  video_io.write_video(tmp_path / "poor.mp4", frames, fps=10, crf=40)
  assert psnr(tmp_path / "good.mp4") > psnr(tmp_path / "poor.mp4") + 3
  assert video_io.writer_options(".gif", crf=5) == {"codec": "gif"}  # CRF is h264's alone.
  # A user's --output mp4 without --crf: lossless RGB h264, bit for bit; with --crf, 4:2:0 h264 at that quality.
  video_io.write_video_atomically(tmp_path / "out.mp4", frames, fps=10)
  assert np.array_equal(video_io.read_video(tmp_path / "out.mp4")[0], frames)
  video_io.write_video_atomically(tmp_path / "shared.mp4", frames, fps=10, crf=40)
  assert psnr(tmp_path / "shared.mp4") == psnr(tmp_path / "poor.mp4")
