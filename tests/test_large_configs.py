"""The published-scale configs build, shard and compile on 8 fake CPU devices."""

import math

import jax
import pytest

from tests.conftest import gan_setup, load_config
from videogan import errors, trainer
from videogan.gan import state as state_lib
from videogan.gan import task as gan_task

LARGE = {"ucf101": 4, "kinetics600": 8, "bair": 2, "sky_timelapse": 4}  # config -> fsdp


def load(name, variant=None):
  return load_config(f"configs/{name}.py" + (f":{variant}" if variant else ""))


@pytest.mark.parametrize("name", LARGE)
def test_full_size_state_is_sharded_fsdp_ways(name):
  config = load(name)
  fsdp = LARGE[name]
  assert config.mesh.fsdp == fsdp and config.mesh.data == -1
  task, s = gan_setup(config)  # Abstract: nothing the size of the model is allocated.
  assert dict(s.mesh.shape) == {"data": 8 // fsdp, "fsdp": fsdp}
  assert state_lib.param_count(s.target.g_params) > 5e6 and task.gan.video_shape[1:] == (
      config.data.image_size, config.data.image_size, 3)
  for x in jax.tree.leaves(s.target):
    if x.size >= config.sharding.min_size and any(d % fsdp == 0 for d in x.shape):
      # Each device holds 1/fsdp of every large parameter, Adam moment and EMA leaf.
      assert math.prod(x.sharding.shard_shape(x.shape)) * fsdp == x.size, (x.shape, x.sharding.spec)


@pytest.mark.parametrize("name", LARGE)
def test_smoke_variant_compiles_ahead_of_time(name):
  config = load(name, "smoke")
  task, s = gan_setup(config)
  _, report = trainer.compile_step(task, s)
  assert report["gflop_per_step"] > 0 and report["temp_mib"] > 0


def test_training_without_the_prepared_dataset_fails_clearly(tmp_path):
  config = load("ucf101", "smoke")
  config.data.tfds_data_dir = str(tmp_path / "tfds")  # Empty: nothing is downloaded.
  with pytest.raises(errors.ConfigError, match=r"tfds_name='ucf101': not prepared.*tfds build ucf101"):
    gan_task.train_and_evaluate(config, tmp_path / "run")
  assert not (tmp_path / "run").exists()  # Failed before touching the workdir.
