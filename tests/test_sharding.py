"""Sharding over 8 fake CPU devices: data and FSDP meshes against one device.

What is compared: what training changed, x - x0 for every leaf of the state
(x0 the shared initial state; zero for the Adam moments), so that a
parameter's size does not hide its update. The tolerance is a separation, with
both sides stated and tested:

* rounding: the meshes compute the same float32 math and differ only in the
  order of reductions (a gradient is summed per shard, then across shards).
  Each reduction's result moves by at most a few float32 ulps (2**-24
  relative) of the magnitudes it sums, and Adam with eps=1e-3 (set here,
  above the tiny model's smallest gradients, so its update is linear in them
  and rounding is not magnified by m / sqrt(v)) passes that on linearly. The
  largest difference seen after 3 steps is 1.4e-5 of a leaf's change (an Adam
  second moment on an AMD EPYC with AVX-512; Intel Xeon: 4e-6), the rounding
  of a bias gradient whose real and fake halves nearly cancel.
* a sharding error: a dropped, doubled or misplaced shard's gradient changes
  the batch's gradient by about 1/8, so the changes by >= 1e-2 of their size:
  `test_the_tolerance_sees_one_clip_of_eight` checks that replacing one clip
  of the 8 moves the state by more than 10x the tolerance.

TOLERANCE = 1e-3 of each leaf's largest change lies 70x above the largest
rounding seen on either CPU kind and >= 10x below an error of one shard. To
it is added 16 float32 ulps (2**-19) of the leaf's largest value: a stored value
is rounded to its own ulp, which is what is left where the change is tiny
(G's EMA moves by 1 - 0.995 of G's change per step).
"""

import json
import math
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from tests.conftest import assert_close_to, differences, gan_setup
from videogan import checkpoint, errors, parallel, trainer
from videogan.models import generators

MESHES = [{"data": 8}, {"data": 4, "fsdp": 2}, {"data": 2, "fsdp": 4}]
STEPS = 3


def sharded_config(tiny_config, mesh):
  config = tiny_config()
  config.mesh = mesh
  config.optimizer.eps = 1e-3  # See the module docstring.
  config.sharding.min_size = 0  # The tiny model's leaves are small; shard them all.
  return config


def run_steps(config, devices, steps=STEPS, replace_clip=None):
  """`steps` train steps from the seed's init on the mesh of `config` over `devices`.

  `replace_clip=i`: clip i of every batch is replaced by another random clip.
  """
  task, s = gan_setup(config, devices)
  compiled, _ = trainer.compile_step(task, s)
  state = task.init_state(jax.random.key(config.seed), s.state_sharding)
  for i in range(steps):
    video = jax.random.uniform(jax.random.key(100 + i), (config.batch_size, *task.gan.video_shape), minval=-1, maxval=1)
    if replace_clip is not None:
      video = video.at[replace_clip].set(jax.random.uniform(jax.random.key(999 + i), video.shape[1:], minval=-1))
    state, _ = compiled(state, {"video": jax.device_put(video, s.batch_sharding)}, jax.random.key(7))
  return s, state


def initial_state(config):
  task, s = gan_setup(config, jax.devices()[:1])
  return task.init_state(jax.random.key(config.seed), s.state_sharding)


@pytest.fixture(scope="module")
def one_device(tiny_config):
  assert jax.device_count() == 8, "conftest.py sets JAX_NUM_CPU_DEVICES=8"
  config = sharded_config(tiny_config, {"data": 1})
  return run_steps(config, jax.devices()[:1])[1], initial_state(config)


@pytest.mark.parametrize("mesh", MESHES, ids=lambda m: "x".join(f"{k}{v}" for k, v in m.items()))
def test_mesh_equals_one_device_and_shards_fsdp_ways(tiny_config, one_device, mesh):
  s, state = run_steps(sharded_config(tiny_config, mesh), jax.devices())
  fsdp = mesh.get("fsdp", 1)
  sharded = 0
  assert_close_to(state, *one_device)
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
    config.model.generator = generators.default_config(
        "sprites", like=config.model.generator, sprite_decoder="shared", sprite_blend="max", sprite_positions="pixel")
  _, expected = run_steps(configs[0], jax.devices()[:1])
  _, state = run_steps(configs[1], jax.devices())
  assert "to_velocity" in state.g_params
  assert_close_to(state, expected, initial_state(configs[0]))


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
  init = initial_state(r1_config({"data": 1}))
  assert_close_to((state.d_params, state.d_opt_state), (expected.d_params, expected.d_opt_state),
                  (init.d_params, init.d_opt_state))


def test_the_tolerance_sees_one_clip_of_eight(tiny_config, one_device):
  """The other side of the separation (module docstring): one clip of the 8 replaced, on one device,
  moves the state's changes by more than 10x the bound, as a lost or doubled shard would."""
  config = sharded_config(tiny_config, {"data": 1})
  _, changed = run_steps(config, jax.devices()[:1], replace_clip=3)
  assert max(differences(changed, *one_device).values()) > 10


def test_min_size_keeps_small_leaves_replicated(tiny_config):
  config = sharded_config(tiny_config, {"data": 2, "fsdp": 4})
  config.sharding.min_size = 2**14
  task, s = gan_setup(config)
  for x in jax.tree.leaves(s.target):
    assert x.sharding.spec == jax.sharding.PartitionSpec() or x.size >= 2**14


def test_explicit_rules_and_bad_rules(tiny_config):
  config = sharded_config(tiny_config, {"data": 2, "fsdp": 4})
  # First match wins: G's projection split on its output dimension, the rest replicated.
  config.sharding.rules = ((r"g_params/project/kernel", (None, "fsdp")), (".*", "replicated"))
  task, s = gan_setup(config)
  assert s.target.g_params["project"]["kernel"].sharding.spec == jax.sharding.PartitionSpec(None, "fsdp")
  assert s.target.ema_g_params["project"]["kernel"].sharding.spec == jax.sharding.PartitionSpec()
  config.sharding.rules = ((r".*g_params/project/bias", ("fsdp",)),)  # bias [4*4*32]: divisible by 4
  gan_setup(config)
  config.sharding.rules = ((r".*kernel", ("fsdp",)),)  # wrong rank
  with pytest.raises(errors.ConfigError, match="config.sharding.rules"):
    gan_setup(config)
  config.sharding.rules = ((r".*", ("tensor",)),)  # not a mesh axis
  with pytest.raises(errors.ConfigError, match="config.sharding.rules"):
    gan_setup(config)


def test_checkpoint_restores_under_a_different_mesh(tiny_config, tmp_path):
  fsdp_config = sharded_config(tiny_config, {"data": 2, "fsdp": 4})
  _, state = run_steps(fsdp_config, jax.devices())
  ckpt = checkpoint.Checkpointer(tmp_path, save_every=1, keep=1)
  ckpt.save(state, {"next_example": 24}, fsdp_config, force=True)
  ckpt.wait()
  for mesh, devices in (({"data": 8}, jax.devices()), ({"data": 1, "fsdp": 2}, jax.devices()[:2])):
    task, s = gan_setup(sharded_config(tiny_config, mesh), devices)
    restored, position = ckpt.restore(s.target)
    assert position == {"next_example": 24}
    for a, b, t in zip(jax.tree.leaves(restored), jax.tree.leaves(state), jax.tree.leaves(s.target), strict=True):
      assert a.sharding == t.sharding
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  ckpt.close()


def test_batch_is_split_over_data_and_fsdp(tiny_config):
  task, s = gan_setup(sharded_config(tiny_config, {"data": 2, "fsdp": 4}))
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
  with pytest.raises(errors.ConfigError, match=message):
    gan_setup(config)


_SPLIT = """
import json, os
os.sched_getaffinity = lambda pid: set(range({cores}))  # A host with this many cores.
import jax
from videogan import parallel
from videogan.configs import moving_mnist
config = moving_mnist.get_config("tiny")
config.batch_size, config.cpu_devices = {batch}, {wanted}
{extra}
print(json.dumps([parallel.split_cpu_cores(config), jax.device_count()]))
"""


@pytest.mark.parametrize("cores, batch, wanted, env, extra, expected", [
    (3, 4, 0, {}, "", [2, 2]),  # One device per core, up to a divisor of the batch.
    (3, 6, 0, {}, "", [3, 3]),
    (4, 8, 2, {}, "", [2, 2]),  # A count of the config's.
    (4, 8, 1, {}, "", [None, 1]),  # The default: one device.
    (4, 8, 0, {"JAX_NUM_CPU_DEVICES": "3"}, "", [None, 3]),  # The user's count wins.
    (4, 8, 0, {"XLA_FLAGS": "--xla_force_host_platform_device_count=3"}, "", [None, 3]),
    (4, 8, 0, {}, "config.mesh.fsdp = 2", [None, 1]),  # Not a data-parallel mesh: left alone.
])
def test_cpu_devices_split_the_batch_over_the_cores(cores, batch, wanted, env, extra, expected):
  base = {k: v for k, v in os.environ.items() if k not in ("JAX_NUM_CPU_DEVICES", "XLA_FLAGS")}
  code = _SPLIT.format(cores=cores, batch=batch, wanted=wanted, extra=extra)
  out = subprocess.run([sys.executable, "-c", code], env={**base, "JAX_PLATFORMS": "cpu", **env},
                       capture_output=True, text=True, check=True).stdout
  assert json.loads(out.strip().splitlines()[-1]) == expected


def test_a_negative_cpu_devices_fails_naming_the_key(tiny_config):
  config = tiny_config()
  config.cpu_devices = -1  # (A value of another type the config itself refuses.)
  with pytest.raises(errors.ConfigError, match=r"config\.cpu_devices=-1"):
    parallel.split_cpu_cores(config)
