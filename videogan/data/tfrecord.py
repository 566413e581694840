"""Pre-decoded video shards: written once by `videogan.prepare`, read at random.

A folder of videos is decoded once into TFRecord shards of `tf.train.Example`s,
one per video, holding every frame as a JPEG (shorter side scaled to
`short_side`) and its metadata:

  frames      bytes, one JPEG per source frame, in order
  fps         float, the source frame rate
  num_frames, height, width, label   int64 (label -1: no class folder)
  path        bytes, the video's path relative to the source folder

`index.json` next to the shards lists, per split, where each record starts
(shard, byte offset, length) with its metadata. The reader seeks straight to a
record, so clip `i` is still a pure function of (seed, i) as for the other
sources (no shuffle buffer, exact resume), and only the frames a clip uses are
JPEG-decoded, inside the tf.data graph.

TFRecord framing (per record): uint64 length, uint32 masked CRC of the length,
the bytes, uint32 masked CRC of the bytes. The reader checks the length field
against the index.
"""

import json
import struct
from pathlib import Path

import numpy as np
import tensorflow as tf

from videogan.data import video_file, video_source

INDEX = "index.json"
VERSION = 1
_HEADER = 12  # uint64 length + uint32 CRC.
_FOOTER = 4

FEATURES = {
    "frames": tf.io.VarLenFeature(tf.string),
    "fps": tf.io.FixedLenFeature([], tf.float32),
    "num_frames": tf.io.FixedLenFeature([], tf.int64),
    "height": tf.io.FixedLenFeature([], tf.int64),
    "width": tf.io.FixedLenFeature([], tf.int64),
    "label": tf.io.FixedLenFeature([], tf.int64),
    "path": tf.io.FixedLenFeature([], tf.string),
}


def make_example(frames_jpeg: list[bytes], fps: float, height: int, width: int, label: int, path: str) -> bytes:
  feature = {
      "frames": tf.train.Feature(bytes_list=tf.train.BytesList(value=frames_jpeg)),
      "fps": tf.train.Feature(float_list=tf.train.FloatList(value=[fps])),
      "num_frames": tf.train.Feature(int64_list=tf.train.Int64List(value=[len(frames_jpeg)])),
      "height": tf.train.Feature(int64_list=tf.train.Int64List(value=[height])),
      "width": tf.train.Feature(int64_list=tf.train.Int64List(value=[width])),
      "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
      "path": tf.train.Feature(bytes_list=tf.train.BytesList(value=[path.encode()])),
  }
  return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


class ShardWriter:
  """Writes records into `{split}-NNNNN.tfrecord` shards of about `shard_bytes`, tracking offsets."""

  def __init__(self, out_dir: Path, split: str, shard_bytes: int):
    self.out_dir, self.split, self.shard_bytes = out_dir, split, shard_bytes
    self.shards: list[str] = []
    self.records: list[dict] = []
    self._writer, self._offset = None, 0

  def write(self, data: bytes, meta: dict) -> None:
    if self._writer is None or self._offset >= self.shard_bytes:
      self.close()
      self.shards.append(f"{self.split}-{len(self.shards):05d}.tfrecord")
      self._writer, self._offset = tf.io.TFRecordWriter(str(self.out_dir / self.shards[-1])), 0
    self._writer.write(data)
    self.records.append({"shard": len(self.shards) - 1, "offset": self._offset, "length": len(data), **meta})
    self._offset += _HEADER + len(data) + _FOOTER

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()
      self._writer = None


def read_index(directory: str | Path) -> dict:
  """`index.json` of a prepared directory; `FileNotFoundError`/`ValueError` name the problem."""
  path = Path(directory).expanduser() / INDEX
  if not path.is_file():
    raise FileNotFoundError(
        f"config.data.tfrecord_dir={str(directory)!r}: no {INDEX}; write the shards with "
        f"`python -m videogan.prepare SRC_DIR {directory}`."
    )
  try:
    index = json.loads(path.read_text())
  except json.JSONDecodeError as e:
    raise ValueError(f"{path}: not valid JSON ({e}); re-run videogan.prepare.") from None
  if index.get("version") != VERSION:
    raise ValueError(f"{path}: index version {index.get('version')!r}, this videogan reads {VERSION}; re-run videogan.prepare.")
  return index


def read_record(shard: Path, offset: int, length: int) -> bytes:
  """The bytes of the record at `offset` of `shard`, checked against the framing's length field."""
  with open(shard, "rb") as f:
    f.seek(offset)
    header = f.read(_HEADER)
    data = f.read(length)
  if len(header) < _HEADER or struct.unpack("<Q", header[:8])[0] != length or len(data) != length:
    raise video_file.VideoError(shard, f"record at byte {offset} is truncated or does not match {INDEX}")
  return data


class TFRecordSource:
  """`data.source="tfrecord"`: clip `i` as the encoded record plus what to take from it."""

  def __init__(self, directory: str | Path, index: dict, split: str, spec: video_source.ClipSpec, seed: int,
               training: bool, bad_files: video_source.BadFiles):
    if split not in index["splits"] or not index["splits"][split]["records"]:
      raise FileNotFoundError(f"config.data.tfrecord_dir={str(directory)!r}: no {split!r} videos in {INDEX}.")
    self.directory = Path(directory).expanduser()
    self.shards = [self.directory / name for name in index["splits"][split]["shards"]]
    self.records = index["splits"][split]["records"]
    self.spec, self.seed, self.split, self.training, self.bad_files = spec, seed, split, training, bad_files
    self.order = video_source.VideoOrder(len(self.records), seed, split, shuffle=training)

  def plan(self, index: int):
    """(record bytes, frame numbers, crop position in [0, 1)^2, flip, label, path) of example `index`."""
    spec = self.spec
    for record_id in self.order.candidates(index):
      r = self.records[record_id]
      name = f"{self.shards[r['shard']]}:{r['path']}"
      if name in self.bad_files:
        continue
      rng = video_source.clip_rng(self.seed, self.split, index)
      try:
        frames = video_source.plan_frames(r["num_frames"], r["fps"], spec, rng.random() if self.training else None)
        data = read_record(self.shards[r["shard"]], r["offset"], r["length"])
      except video_source.TooShort as e:
        self.bad_files.add(name, str(e))
        continue
      except (OSError, video_file.VideoError) as e:
        self.bad_files.add(name, getattr(e, "reason", str(e)))
        continue
      u_y, u_x = rng.random(2)
      flip = spec.random_flip and rng.random() < 0.5
      return (data, frames.astype(np.int64), np.float32(u_y), np.float32(u_x), np.bool_(flip), np.int32(r["label"]),
              np.bytes_(r["path"].encode()))
    raise RuntimeError(f"none of the {len(self.records)} records of the {self.split!r} split is usable; "
                       f"first skipped: {self.bad_files.items()[:3]}")

  def clip_fn(self):
    """tf.data map function: example index -> {"video" uint8, "label", "path"}."""
    spec = self.spec
    out_types = [tf.string, tf.int64, tf.float32, tf.float32, tf.bool, tf.int32, tf.string]

    def fn(index):
      data, frames, u_y, u_x, flip, label, path = tf.numpy_function(
          lambda i: self.plan(int(i)), [index], out_types, stateful=False)
      encoded = tf.gather(tf.sparse.to_dense(tf.io.parse_single_example(data, FEATURES)["frames"]), frames)
      video = tf.map_fn(lambda jpeg: tf.io.decode_jpeg(jpeg, channels=spec.channels), encoded,
                        fn_output_signature=tf.TensorSpec([None, None, spec.channels], tf.uint8))
      video = resize_crop_flip(video, spec, u_y, u_x, flip)
      return {"video": video, "label": tf.ensure_shape(label, ()), "path": tf.ensure_shape(path, ())}

    return fn


def resize_crop_flip(video: tf.Tensor, spec: video_source.ClipSpec, u_y, u_x, flip) -> tf.Tensor:
  """uint8 `[T, h, w, C]` -> shorter side `spec.shorter_side` (area filter), square crop, optional mirror.

  The crop starts at fractions (u_y, u_x) of the slack when `spec.random_crop`,
  else in the centre; the scaled size matches `ClipSpec.scaled_size`.
  """
  size = spec.image_size
  shape = tf.shape(video)
  h, w = tf.cast(shape[1], tf.float64), tf.cast(shape[2], tf.float64)
  side = tf.cast(spec.shorter_side, tf.float64) if spec.shorter_side else tf.minimum(h, w)  # 0: native size.
  side = tf.maximum(side, size)
  scale = side / tf.minimum(h, w)
  new_h = tf.maximum(size, tf.cast(tf.round(h * scale), tf.int32))
  new_w = tf.maximum(size, tf.cast(tf.round(w * scale), tf.int32))
  video = tf.cond(
      tf.logical_and(tf.equal(new_h, shape[1]), tf.equal(new_w, shape[2])),
      lambda: video,
      lambda: tf.cast(tf.round(tf.clip_by_value(tf.image.resize(video, tf.stack([new_h, new_w]), "area"), 0, 255)),
                      tf.uint8),
  )
  if spec.random_crop:
    y = tf.cast(tf.floor(u_y * tf.cast(new_h - size + 1, tf.float32)), tf.int32)
    x = tf.cast(tf.floor(u_x * tf.cast(new_w - size + 1, tf.float32)), tf.int32)
  else:
    y, x = (new_h - size) // 2, (new_w - size) // 2
  video = video[:, y : y + size, x : x + size]
  video = tf.cond(flip, lambda: tf.reverse(video, axis=[2]), lambda: video)
  return tf.ensure_shape(video, (spec.clip_len, size, size, spec.channels))
