r"""Decodes a folder of videos once into TFRecord shards for `data.source="tfrecord"`.

  python -m videogan.prepare SRC_DIR OUT_DIR [--short_side=128] [--workers=8]

Splits and labels follow the folder source (`train/` and `test/` sub-folders,
else a hash of each path with --eval_fraction; class = first sub-folder).
Every frame is kept at the source frame rate (training resamples to its
`config.fps`), scaled so its shorter side is --short_side, as a JPEG. Videos
that cannot be decoded are skipped, logged with their path, and listed under
"skipped" in OUT_DIR/index.json. Decoding runs --workers ffmpeg processes at a
time; the output is the same whatever the number of workers.
"""

import concurrent.futures
import json
import sys
import time
from pathlib import Path

from absl import app, flags, logging

from videogan.data import tfrecord, video_file, video_source

_SHORT_SIDE = flags.DEFINE_integer("short_side", 128, "Shorter side of stored frames in pixels (0: keep the source size).")
_WORKERS = flags.DEFINE_integer("workers", 8, "Videos decoded at the same time.")
_QUALITY = flags.DEFINE_integer("jpeg_quality", 95, "JPEG quality of stored frames (1-100).")
_EVAL_FRACTION = flags.DEFINE_float("eval_fraction", 0.1, "Without train/ and test/ folders: share of videos for test.")
_SHARD_MB = flags.DEFINE_integer("shard_mb", 256, "Approximate shard size in MiB.")


def encode_video(path: str, short_side: int, quality: int) -> tuple[list[bytes], float, int, int]:
  """Decodes all frames of `path` -> (JPEGs, fps, height, width); raises `VideoError`."""
  import tensorflow as tf

  info = video_file.probe(path)
  size = video_file.scaled_size(info.width, info.height, short_side) if short_side else (info.width, info.height)
  frames = video_file.read_frames(path, None, size)
  if len(frames) == 0:
    raise video_file.VideoError(path, "no frames could be decoded")
  return [tf.io.encode_jpeg(f, quality=quality).numpy() for f in frames], info.fps, size[1], size[0]


def prepare(src_dir: str | Path, out_dir: str | Path, *, short_side: int = 128, workers: int = 8,
            jpeg_quality: int = 95, eval_fraction: float = 0.1, shard_mb: int = 256) -> dict:
  """Writes the shards and `index.json` into `out_dir`; returns the index."""
  src_dir, out_dir = Path(src_dir).expanduser().resolve(), Path(out_dir).expanduser()
  if not 1 <= jpeg_quality <= 100 or workers < 1 or short_side < 0 or shard_mb < 1:
    raise ValueError(f"bad settings: jpeg_quality={jpeg_quality} (1-100), workers={workers} (>= 1), "
                     f"short_side={short_side} (>= 0), shard_mb={shard_mb} (>= 1).")
  if out_dir.exists() and any(out_dir.iterdir()):
    raise FileExistsError(f"{out_dir}: exists and is not empty; choose a new output directory.")
  splits = {}
  for split in video_source.SPLITS:
    try:
      splits[split] = video_source.list_videos(src_dir, split, eval_fraction)
    except FileNotFoundError as e:
      if split == "train" or "no video files" in str(e) or "no such directory" in str(e):
        raise
      logging.warning("%s", e)
  out_dir.mkdir(parents=True, exist_ok=True)
  index = {"version": tfrecord.VERSION, "source": str(src_dir), "short_side": short_side,
           "jpeg_quality": jpeg_quality, "classes": list(splits["train"].classes), "splits": {}, "skipped": []}
  start = time.perf_counter()
  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    for split, videos in splits.items():
      writer = tfrecord.ShardWriter(out_dir, split, shard_mb << 20)

      def encode(path):
        try:
          return encode_video(path, short_side, jpeg_quality)
        except video_file.VideoError as e:
          return e

      for path, label, result in zip(videos.paths, videos.labels, pool.map(encode, videos.paths), strict=True):
        rel = Path(path).relative_to(src_dir).as_posix()
        if isinstance(result, video_file.VideoError):
          logging.warning("Skipped video %s: %s", path, result.reason)
          index["skipped"].append([rel, result.reason])
          continue
        jpegs, fps, height, width = result
        writer.write(tfrecord.make_example(jpegs, fps, height, width, label, rel),
                     {"num_frames": len(jpegs), "fps": fps, "height": height, "width": width, "label": label, "path": rel})
      writer.close()
      index["splits"][split] = {"shards": writer.shards, "records": writer.records}
      logging.info("%s: %d videos in %d shard(s).", split, len(writer.records), len(writer.shards))
  (out_dir / tfrecord.INDEX).write_text(json.dumps(index, indent=1))
  logging.info("Wrote %s in %.1f s; %d video(s) skipped.", out_dir, time.perf_counter() - start, len(index["skipped"]))
  return index


def main(argv: list[str]) -> None:
  if len(argv) != 3:
    sys.exit(f"usage: python -m videogan.prepare SRC_DIR OUT_DIR [flags]; got {argv[1:]}")
  try:
    prepare(argv[1], argv[2], short_side=_SHORT_SIDE.value, workers=_WORKERS.value, jpeg_quality=_QUALITY.value,
            eval_fraction=_EVAL_FRACTION.value, shard_mb=_SHARD_MB.value)
  except (FileNotFoundError, FileExistsError, ValueError) as e:
    sys.exit(f"error: {e}")


if __name__ == "__main__":
  app.run(main)
