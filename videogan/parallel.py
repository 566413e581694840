"""Device mesh, shardings and global batches.

The train step is written for one device and sharded by `jax.jit`: the batch
is split over the mesh's `data` axis and the state is replicated. A mean over
the batch inside the step is then already a mean over the global batch.
"""

import math

import jax
import ml_collections
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

BATCH_AXES = ("data",)


def make_mesh(mesh_config: ml_collections.ConfigDict, devices=None) -> Mesh:
  """Mesh with the axes and sizes of `config.mesh`; one size may be -1 (the rest)."""
  devices = jax.devices() if devices is None else devices
  names = tuple(mesh_config.keys())
  sizes = [int(mesh_config[n]) for n in names]
  known = math.prod(s for s in sizes if s != -1)
  if sizes.count(-1) > 1 or len(devices) % known:
    raise ValueError(f"config.mesh={dict(mesh_config)} does not fit {len(devices)} devices.")
  sizes = [len(devices) // known if s == -1 else s for s in sizes]
  if math.prod(sizes) != len(devices):
    raise ValueError(f"config.mesh={dict(mesh_config)} has {math.prod(sizes)} devices, there are {len(devices)}.")
  return jax.make_mesh(sizes, names, axis_types=(AxisType.Auto,) * len(names), devices=devices)


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) dimension split over the mesh's data axes."""
  return NamedSharding(mesh, P(tuple(a for a in BATCH_AXES if a in mesh.axis_names)))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def global_batch(local_batch: dict[str, np.ndarray], sharding: NamedSharding) -> dict[str, jax.Array]:
  """Assembles each process's slice of the batch into global jax.Arrays."""
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), local_batch)
