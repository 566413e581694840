"""Sharding over 8 fake CPU devices: data and FSDP meshes against one device.

Tolerance: every leaf within 1e-5 of its largest magnitude (|a - b| <=
1e-5 max|b|). The meshes compute the same float32 math; only the order of
reductions differs (a gradient is summed per shard, then across shards), which
moves results by float32 rounding: <= 5e-6 of a tensor's scale after one step
(measured). Adam's update m / (sqrt(v) + eps) normalises each gradient, so a
parameter whose gradient is itself at rounding level (the tiny model's GRU and
pixel-normed projection bias get ~1e-7) has its update decided by the rounding:
with the default eps=1e-8 the meshes differ by ~1% on those leaves after 3
steps (measured; eps=1e-5: 5e-5; eps=1e-4: 1e-5). The test therefore sets
eps=1e-3, above the tiny model's gradients, where Adam's update is linear in
them and rounding is not magnified; measured differences are then <= 4e-6 of
scale. The sharding itself (every leaf split, gathered, reduced) is unchanged.
"""

import math

import jax
import numpy as np
import pytest

from videogan import checkpoint, parallel, train
from videogan import state as state_lib

MESHES = [{"data": 8}, {"data": 4, "fsdp": 2}, {"data": 2, "fsdp": 4}]
STEPS = 3


def sharded_config(tiny_config, mesh):
  config = tiny_config()
  config.mesh = mesh
  config.optimizer.eps = 1e-3  # See the module docstring.
  config.sharding.min_size = 0  # The tiny model's leaves are small; shard them all.
  return config


def run_steps(config, devices, steps=STEPS):
  """`steps` train steps from the seed's init on the mesh of `config` over `devices`."""
  s = train.setup(config, devices)
  compiled, _ = train.compile_train_step(s, config)
  state = state_lib.create_state(jax.random.key(config.seed), s.gan, s.g_tx, s.d_tx, s.state_sharding)
  for i in range(steps):
    video = jax.random.uniform(jax.random.key(100 + i), (config.batch_size, *s.gan.video_shape), minval=-1, maxval=1)
    state, _ = compiled(state, {"video": jax.device_put(video, s.batch_sharding)}, jax.random.key(7))
  return s, state


def assert_close_to(state, expected_state, scale=1e-5):
  """Every leaf within `scale` of its largest magnitude (module docstring)."""
  for (path, x), expected in zip(jax.tree_util.tree_leaves_with_path(state), jax.tree.leaves(expected_state), strict=True):
    expected = np.asarray(expected)
    np.testing.assert_allclose(np.asarray(x), expected, rtol=0, atol=scale * np.abs(expected).max(),
                               err_msg=jax.tree_util.keystr(path, simple=True, separator="/"))


@pytest.fixture(scope="module")
def one_device(tiny_config):
  assert jax.device_count() == 8, "conftest.py sets JAX_NUM_CPU_DEVICES=8"
  return run_steps(sharded_config(tiny_config, {"data": 1}), jax.devices()[:1])[1]


@pytest.mark.parametrize("mesh", MESHES, ids=lambda m: "x".join(f"{k}{v}" for k, v in m.items()))
def test_mesh_equals_one_device_and_shards_fsdp_ways(tiny_config, one_device, mesh):
  s, state = run_steps(sharded_config(tiny_config, mesh), jax.devices())
  fsdp = mesh.get("fsdp", 1)
  sharded = 0
  assert_close_to(state, one_device)
  for path, x in jax.tree_util.tree_leaves_with_path(state):
    name = jax.tree_util.keystr(path, simple=True, separator="/")
    spec = tuple(x.sharding.spec) + (None,) * (x.ndim - len(x.sharding.spec))
    if fsdp > 1 and x.size >= fsdp and any(d % fsdp == 0 for d in x.shape):
      # Every leaf with a dimension divisible by fsdp is split over it.
      assert spec.count("fsdp") == 1, f"{name} {x.shape} is not sharded: {x.sharding.spec}"
    local = x.addressable_shards[0].data.shape
    for d, (size, axis) in enumerate(zip(x.shape, spec, strict=True)):
      assert local[d] == (size // fsdp if axis == "fsdp" else size), (name, x.shape, local, spec)
    sharded += "fsdp" in spec
  if fsdp > 1:
    # Parameters, both Adam moments and the EMA: the bulk of the state is split.
    big = [x for x in jax.tree.leaves(state.g_params) if x.ndim >= 2]
    assert sharded >= 4 * len(big)
    per_device = sum(math.prod(x.addressable_shards[0].data.shape) for x in jax.tree.leaves(state))
    total = sum(x.size for x in jax.tree.leaves(state))
    assert per_device < total / fsdp * 1.05


def test_sprite_generator_on_an_fsdp_mesh_equals_one_device(tiny_config):
  """The default config's layered G (motion "sprites", shared decoder, max blend, whole-pixel positions):
  3 steps, 4 x 2 mesh vs 1 device."""
  configs = [sharded_config(tiny_config, mesh) for mesh in ({"data": 1}, {"data": 4, "fsdp": 2})]
  for config in configs:
    config.model.generator.motion = "sprites"
    config.model.generator.sprite_decoder = "shared"
    config.model.generator.sprite_blend = "max"
    config.model.generator.sprite_positions = "pixel"
  _, expected = run_steps(configs[0], jax.devices()[:1])
  _, state = run_steps(configs[1], jax.devices())
  assert "to_velocity" in state.g_params
  # The sprites' positions sum velocities over frames and fold them (mod 2), which adds float32
  # rounding: the velocity bias, which starts at 0, agreed to 6e-5 of its size after 3 steps
  # (measured), above the 1e-5 used for the other tests.
  assert_close_to(state, expected, scale=1e-4)


def test_lazy_r1_d_update_on_an_fsdp_mesh_equals_one_device(tiny_config):
  """D without spectral norm and a lazy R1 (a double backward inside lax.cond): D's update at step 0.

  Only D's state is compared, after one step: without spectral norm the tiny
  model's G has more leaves whose gradients are at rounding level (the
  pixel-normed biases; module docstring), and those differ by a few percent of
  their own (tiny) scale even between 8 data-parallel devices and one.
  """
  def r1_config(mesh):
    config = sharded_config(tiny_config, mesh)
    config.model.discriminator.spectral_norm = False
    config.r1_weight, config.r1_every = 0.2, 2  # Step 0 takes the R1 branch.
    return config

  _, expected = run_steps(r1_config({"data": 1}), jax.devices()[:1], steps=1)
  _, state = run_steps(r1_config({"data": 4, "fsdp": 2}), jax.devices(), steps=1)
  assert_close_to((state.d_params, state.d_opt_state), (expected.d_params, expected.d_opt_state))


def test_min_size_keeps_small_leaves_replicated(tiny_config):
  config = sharded_config(tiny_config, {"data": 2, "fsdp": 4})
  config.sharding.min_size = 2**14
  s = train.setup(config)
  for x in jax.tree.leaves(s.target):
    assert x.sharding.spec == jax.sharding.PartitionSpec() or x.size >= 2**14


def test_explicit_rules_and_bad_rules(tiny_config):
  config = sharded_config(tiny_config, {"data": 2, "fsdp": 4})
  # First match wins: G's projection split on its output dimension, the rest replicated.
  config.sharding.rules = ((r"g_params/project/kernel", (None, "fsdp")), (".*", "replicated"))
  s = train.setup(config)
  assert s.target.g_params["project"]["kernel"].sharding.spec == jax.sharding.PartitionSpec(None, "fsdp")
  assert s.target.ema_g_params["project"]["kernel"].sharding.spec == jax.sharding.PartitionSpec()
  config.sharding.rules = ((r".*g_params/project/bias", ("fsdp",)),)  # bias [4*4*32]: divisible by 4
  train.setup(config)
  config.sharding.rules = ((r".*kernel", ("fsdp",)),)  # wrong rank
  with pytest.raises(train.config_validation.ConfigError, match="config.sharding.rules"):
    train.setup(config)
  config.sharding.rules = ((r".*", ("tensor",)),)  # not a mesh axis
  with pytest.raises(train.config_validation.ConfigError, match="config.sharding.rules"):
    train.setup(config)


def test_checkpoint_restores_under_a_different_mesh(tiny_config, tmp_path):
  fsdp_config = sharded_config(tiny_config, {"data": 2, "fsdp": 4})
  _, state = run_steps(fsdp_config, jax.devices())
  ckpt = checkpoint.Checkpointer(tmp_path, save_every=1, keep=1)
  ckpt.save(state, {"next_example": 24}, fsdp_config, force=True)
  ckpt.wait()
  for mesh, devices in (({"data": 8}, jax.devices()), ({"data": 1, "fsdp": 2}, jax.devices()[:2])):
    s = train.setup(sharded_config(tiny_config, mesh), devices)
    restored, position = ckpt.restore(s.target)
    assert position == {"next_example": 24}
    for a, b, t in zip(jax.tree.leaves(restored), jax.tree.leaves(state), jax.tree.leaves(s.target), strict=True):
      assert a.sharding == t.sharding
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  ckpt.close()


def test_batch_is_split_over_data_and_fsdp(tiny_config):
  s = train.setup(sharded_config(tiny_config, {"data": 2, "fsdp": 4}))
  assert s.batch_sharding.spec == jax.sharding.PartitionSpec(("data", "fsdp"))
  batch = parallel.global_batch({"video": np.zeros((8, 4, 32, 32, 1), np.float32)}, s.batch_sharding)
  assert {sh.data.shape[0] for sh in batch["video"].addressable_shards} == {1}


@pytest.mark.parametrize("mesh,message", [
    ({"data": 3}, "config.mesh"),                    # 3 does not divide 8 devices
    ({"data": -1, "fsdp": -1}, "config.mesh"),        # two -1s
    ({"data": 2, "tensor": 4}, "config.mesh"),        # unknown axis
    ({"data": 1, "fsdp": 8}, "config.batch_size=12"),  # with batch 12: not a multiple of 8 shards
])
def test_bad_meshes_fail_naming_the_key(tiny_config, mesh, message):
  config = tiny_config()
  config.mesh = mesh
  if mesh == {"data": 1, "fsdp": 8}:
    config.batch_size = 12  # not a multiple of the 8 batch shards
  with pytest.raises(train.config_validation.ConfigError, match=message):
    train.setup(config)
