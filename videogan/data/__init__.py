"""Input pipelines: video sources decoded and batched with tf.data."""
