"""`data.source="tfds"`: any TFDS video dataset, read at random like the other sources.

Clip `i` stays a pure function of (seed, i) (exact resume, per-process
sharding before decoding), so the dataset must allow random access: TFDS does
that through `builder.as_data_source`, which needs the `array_record` file
format. Prepare a dataset once with, e.g.:

  tfds build ucf101 --data_dir DIR --file_format=array_record

Only the frames a clip uses are decoded: records are read serialized (the
video feature is a list of per-frame PNG/JPEG bytes) and the chosen frames
are decoded inside the tf.data graph. TFDS does not store frame rates; `data.source_fps` says what
the dataset's is (None: the same as `config.fps`, no resampling).

Nothing here downloads: a dataset that is not prepared in `data.tfds_data_dir`
fails with the command that prepares it.
"""

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from videogan.data import tfrecord, video_source

PREPARE_HINT = "tfds build {name} --data_dir {data_dir} --file_format=array_record"


def load_builder(name: str, data_dir: str | None) -> tfds.core.DatasetBuilder:
  """The prepared builder of `name`; `FileNotFoundError`/`ValueError` say how to fix it."""
  data_dir_text = data_dir or "~/tensorflow_datasets"
  hint = PREPARE_HINT.format(name=name, data_dir=data_dir_text)
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError:
    raise FileNotFoundError(f"config.data.tfds_name={name!r}: no such TFDS dataset, registered or in {data_dir_text}.") from None
  if not builder.is_prepared():
    raise FileNotFoundError(
        f"config.data.tfds_name={name!r}: not prepared in {data_dir_text} (videogan never downloads during "
        f"training); prepare it with `{hint}` and set --config.data.tfds_data_dir."
    )
  file_format = builder.info.file_format
  if file_format is None or file_format.value != "array_record":
    raise ValueError(
        f"config.data.tfds_name={name!r} in {data_dir_text} is stored as {getattr(file_format, 'value', file_format)}; "
        f"random access (exact resume, per-process shards) needs array_record: `{hint}`."
    )
  return builder


class TFDSSource:
  """Clip `i` of a TFDS split as the encoded frames it uses plus crop/flip choices."""

  def __init__(self, config, split: str, seed: int, training: bool, bad_files: video_source.BadFiles):
    data = config.data
    builder = load_builder(data.tfds_name, data.tfds_data_dir)
    features = builder.info.features
    if data.tfds_video_key not in features:
      raise ValueError(f"config.data.tfds_video_key={data.tfds_video_key!r}: {data.tfds_name} has features "
                       f"{sorted(features.keys())}.")
    self.name, self.key = data.tfds_name, data.tfds_video_key
    self.label_key = data.tfds_label_key if data.tfds_label_key in features else None
    tfds_split = {"train": data.tfds_train_split, "test": data.tfds_eval_split}[split]
    if tfds_split not in builder.info.splits:
      raise ValueError(f"{data.tfds_name} has no split {tfds_split!r}; it has {sorted(builder.info.splits.keys())} "
                       "(config.data.tfds_train_split / tfds_eval_split).")
    # Serialized tf.train.Examples: the video feature is a list of encoded frames.
    self.source = builder.as_data_source(tfds_split, deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES)
    self.spec = video_source.ClipSpec.from_config(config, train=training)
    self.source_fps = data.source_fps or config.fps
    self.seed, self.split, self.training, self.bad_files = seed, split, training, bad_files
    self.order = video_source.VideoOrder(len(self.source), seed, split, shuffle=training)

  def plan(self, index: int):
    """(serialized example, frame numbers, crop position in [0, 1)^2, flip, label, name) of example `index`."""
    spec = self.spec
    for record_id in self.order.candidates(index):
      name = f"{self.name}/{self.split}[{record_id}]"
      if name in self.bad_files:
        continue
      raw = self.source[record_id]
      features = tf.train.Example.FromString(raw).features.feature
      rng = video_source.clip_rng(self.seed, self.split, index)
      try:
        num_frames = len(features[self.key].bytes_list.value)
        frames = video_source.plan_frames(num_frames, self.source_fps, spec, rng.random() if self.training else None)
      except video_source.TooShort as e:
        self.bad_files.add(name, str(e))
        continue
      u_y, u_x = rng.random(2)
      flip = spec.random_flip and rng.random() < 0.5
      label = features[self.label_key].int64_list.value[0] if self.label_key else -1
      return (raw, frames.astype(np.int64), np.float32(u_y), np.float32(u_x), np.bool_(flip), np.int32(label),
              np.bytes_(name.encode()))
    raise RuntimeError(f"none of the {len(self.source)} videos of {self.name}/{self.split} is usable; "
                       f"first skipped: {self.bad_files.items()[:3]}")

  def clip_fn(self):
    spec = self.spec
    out_types = [tf.string, tf.int64, tf.float32, tf.float32, tf.bool, tf.int32, tf.string]
    features = {self.key: tf.io.VarLenFeature(tf.string)}

    def fn(index):
      raw, frames, u_y, u_x, flip, label, name = tf.numpy_function(
          lambda i: self.plan(int(i)), [index], out_types, stateful=False)
      encoded = tf.gather(tf.sparse.to_dense(tf.io.parse_single_example(raw, features)[self.key]), frames)
      video = tf.map_fn(lambda image: tf.io.decode_image(image, channels=spec.channels, expand_animations=False),
                        encoded, fn_output_signature=tf.TensorSpec([None, None, spec.channels], tf.uint8))
      video = tfrecord.resize_crop_flip(video, spec, u_y, u_x, flip)
      return {"video": video, "label": tf.ensure_shape(label, ()), "path": tf.ensure_shape(name, ())}

    return fn
