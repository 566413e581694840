"""End to end through the CLI, each run in a fresh process as a user would (two config errors in-process)."""


import re

import numpy as np
import pytest

from tests.conftest import (
  TINY_CONFIG,
  assert_close_to,
  gan_initial_state,
  gan_setup,
  load_config,
  run_cli,
  state_arrays,
)
from videogan import errors
from videogan.models import generators

# Adam's eps above the tiny model's rounding-level gradients, so that 8 devices
# and 1 agree within tests/test_sharding.py's bound after 3 steps:
# with eps=1e-8, float32 rounding that differs between the meshes decides the
# update of those leaves and the difference reaches D's Adam moments (0.2% on
# one of them on an AMD EPYC VM; it passed on the earlier CI machine by luck).
ADAM_EPS = "--config.optimizer.eps=1e-3"


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
  """An uninterrupted 4-step run of the tiny config, checkpointed at every step."""
  workdir = tmp_path_factory.mktemp("full")
  proc = run_cli("--config", TINY_CONFIG, "--workdir", str(workdir),
                 "--config.checkpoint_every=1", "--config.keep_checkpoints=5", ADAM_EPS)
  return workdir, proc


def test_train_writes_checkpoints_events_and_samples(full_run):
  workdir, proc = full_run
  assert sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()) == [1, 2, 3, 4]
  assert list(workdir.glob("events.out.tfevents.*"))
  for suffix in (".gif", ".mp4", ".png"):
    assert (workdir / "samples" / f"step_000004{suffix}").stat().st_size > 0
  assert "step 4/4" in proc.stderr and "clips/s" in proc.stderr and "ETA" in proc.stderr
  # TensorBoard scalars are readable and hold the losses.
  import tensorflow as tf

  values = [v for e in tf.compat.v1.train.summary_iterator(str(next(workdir.glob("events.out.tfevents.*"))))
            for v in e.summary.value]
  assert {"d_loss", "g_loss", "d_real", "d_fake", "clips_per_sec", "samples"} <= {v.tag for v in values}
  # The whole nested config as hparams (not only its top-level numbers).
  from tensorboard.plugins.hparams import plugin_data_pb2

  (start,) = [v for v in values if v.tag == "_hparams_/session_start_info"]
  hparams = plugin_data_pb2.HParamsPluginData.FromString(start.metadata.plugin_data.content).session_start_info.hparams
  assert hparams["model.generator.name"].string_value == "gru" and hparams["total_steps"].number_value == 4
  assert hparams["model.discriminator.spatial_widths"].string_value.startswith("(")


def test_sample_mode_writes_npz_and_videos(full_run, tmp_path):
  workdir, _ = full_run
  out = tmp_path / "samples"
  run_cli("--config", TINY_CONFIG, "--workdir", str(workdir), "--mode", "sample", "--output_dir", str(out))
  with np.load(out / "samples.npz", allow_pickle=False) as f:
    videos, fps = f["videos"], float(f["fps"])
  assert videos.shape == (4, 4, 32, 32, 1) and videos.dtype == np.uint8 and fps == 10.0
  from videogan import video_io

  frames, read_fps = video_io.read_video(out / "clip_0000.mp4")
  assert frames.shape[:3] == (4, 32, 32) and read_fps == 10.0
  assert (out / "clip_0003.gif").exists() and (out / "grid.mp4").exists() and (out / "grid.png").exists()


def test_eight_devices_equal_one_device(full_run, tmp_path):
  workdir, _ = full_run
  proc = run_cli("--config", TINY_CONFIG, "--workdir", str(tmp_path), "--config.total_steps=3", ADAM_EPS,
                 env={"JAX_NUM_CPU_DEVICES": "8"})
  assert "8 devices" in proc.stderr
  # The seed's initial state, as the trainer makes it: the change of every leaf is what is compared.
  config = load_config(TINY_CONFIG)
  config.optimizer.eps = 1e-3
  init = gan_initial_state(config)
  assert_close_to(state_arrays(tmp_path, 3), state_arrays(workdir, 3), init)


def test_cpu_devices_split_the_training_batch(full_run, tmp_path):
  # Where nobody set JAX's CPU device count, config.cpu_devices=2 makes two and the batch splits over them.
  workdir, _ = full_run
  proc = run_cli("--config", TINY_CONFIG, "--workdir", str(tmp_path), "--config.total_steps=3", ADAM_EPS,
                 "--config.cpu_devices=2", env={"JAX_NUM_CPU_DEVICES": None})
  assert "The batch splits over 2 CPU devices" in proc.stderr and "2 devices" in proc.stderr
  config = load_config(TINY_CONFIG)
  config.optimizer.eps = 1e-3
  assert_close_to(state_arrays(tmp_path, 3), state_arrays(workdir, 3), gan_initial_state(config))


@pytest.mark.parametrize("flag,message", [
    ("--config.bath_size=3", "bath_size"),  # Unknown key: rejected by the flag parser.
    ("--config.loss=wasserstein", "config.loss='wasserstein'"),  # Invalid value: rejected by config_validation.
])
def test_bad_config_fails_naming_the_key(tmp_path, flag, message):
  proc = run_cli("--config", TINY_CONFIG, "--workdir", str(tmp_path), flag, check=False)
  assert proc.returncode != 0
  assert message in proc.stderr
  assert not (tmp_path / "checkpoints").exists()  # failed before anything was built


@pytest.mark.parametrize("key,value,message", [
    ("batch_size", -2, "config.batch_size=-2"),
    ("model.generator.widths", (8, 8), "config.model.generator.widths"),
    ("model.discriminator.pooling", "mean", "config.model.discriminator.pooling='mean'"),
    ("model.discriminator.spatial_depth", 0, "config.model.discriminator.spatial_depth=0: expected a positive integer"),
    ("optimizer.decay", "cosine", "config.optimizer.decay='cosine'"),
    ("fvd.protocol", "stylegan_v", "config.fvd.protocol='stylegan_v': expected 'custom' with data.clip_len=4 (the"),
    ("fvd.protocol", "fvd2048", "config.fvd.protocol='fvd2048': expected one of ('custom', 'stylegan_v', 'digan')"),
    ("ema_rampup", -1.0, "config.ema_rampup=-1.0: expected a number >= 0"),
    ("augment", "color,rotate", "config.augment='color,rotate': expected a comma-separated subset of ('color', "),
    ("optimizer.decay_begin", 4, "config.optimizer.decay_begin=4: expected a step in [0, total_steps=4)"),
])
def test_more_invalid_values_are_named(tiny_config, key, value, message):
  # The CLI turns these ConfigErrors into the same message and exit status as above.
  config = tiny_config()
  config.update_from_flattened_dict({key: value})
  with pytest.raises(errors.ConfigError, match=re.escape(message)):
    gan_setup(config)


def test_the_generator_block_holds_exactly_its_familys_options(tiny_config):
  config = tiny_config()
  config.model.generator = generators.default_config("sprites", like=config.model.generator, sprite_blend="add")
  with pytest.raises(errors.ConfigError, match=re.escape("config.model.generator.sprite_blend='add'")):
    gan_setup(config)
  config = tiny_config()  # The `gru` block renamed: conv_gru has no vector GRU, sprites more options.
  config.model.generator.name = "conv_gru"
  with pytest.raises(errors.ConfigError, match=re.escape("the 'conv_gru' generator's block has ['motion_dim'] not "
                                                         "options of it; build it with")):
    gan_setup(config)
  config.model.generator.name = "sprites"
  with pytest.raises(errors.ConfigError, match=r"the 'sprites' generator's block has \['temporal_kernel'\] not options "
                                               r"of it and \['block_depth', .*\] missing"):
    gan_setup(config)
  config.model.generator.name = "stylegan"
  with pytest.raises(errors.ConfigError, match="config.model.generator.name='stylegan': expected one of 'gru'"):
    gan_setup(config)


def test_sample_with_a_missing_enhancer_fails_before_sampling(full_run, tmp_path):
  # Sampling through a trained enhancer runs as the README writes it: tests/test_readme_commands.py.
  workdir, _ = full_run
  proc = run_cli("--config", TINY_CONFIG, "--workdir", str(workdir), "--mode", "sample", "--output_dir",
                 str(tmp_path / "none"), "--enhance", str(tmp_path / "nothing"), check=False)
  assert proc.returncode != 0 and "No enhancer checkpoint" in proc.stderr and not (tmp_path / "none").exists()
