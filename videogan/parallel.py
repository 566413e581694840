"""Device mesh, shardings, multi-process start-up and global batches.

The train step is written for one device and sharded by `jax.jit` (XLA SPMD):

* the batch is split over the mesh's `data` and `fsdp` axes, so a mean over
  the batch inside the step is already a mean over the global batch;
* every leaf of the train state (parameters, Adam moments, EMA parameters) is
  placed by the first of `config.sharding.rules` whose regex matches its path,
  e.g. `g_opt_state/0/mu/block0/spatial/kernel`. With `fsdp > 1` the large
  ones are split over `fsdp` (ZeRO-3 / FSDP: XLA all-gathers a parameter where
  it is used and reduce-scatters its gradient); everything else is replicated.

Rules are `(regex, spec)` pairs; `spec` is one of
  "fsdp":       split the largest dimension divisible by the `fsdp` size;
  "replicated": a full copy on every device;
  a tuple:      an explicit PartitionSpec, one mesh axis name (or None) per
                dimension, e.g. (None, None, None, "model").
Leaves with fewer than `config.sharding.min_size` elements are replicated.
"""

import importlib.util
import math
import os
import re
from collections.abc import Sequence

import jax
import ml_collections
import numpy as np
from absl import logging
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from videogan import errors

BATCH_AXES = ("data", "fsdp")
FSDP_AXIS = "fsdp"


def run_once(fn, *args, out_shardings=None):
  """`jax.jit(fn, out_shardings=...)(*args)` for a program that runs once, such as an init.

  On CPU it is compiled without LLVM's optimisations: parameter init (threefry
  bits, truncated normals) then compiles ~3x faster (18 -> 6 s for the default
  GAN on a 2-core VM); values differ from an optimised build by rounding
  (1.2e-7 at most in the tiny GAN's state). Every fresh state of the CLI, the
  tests and the benchmarks comes from here, so their runs stay comparable.
  """
  lowered = jax.jit(fn, out_shardings=out_shardings).lower(*args)
  options = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else {}
  return lowered.compile(compiler_options=options)(*args)


def split_cpu_cores(config: ml_collections.ConfigDict) -> int | None:
  """Before JAX starts: `config.cpu_devices` CPU devices (0: one per core, up to a divisor of the batch).

  With one device XLA:CPU keeps two cores only partly busy (the 128x128 step's ops add up to 1.2
  cores' time); with a device per core the batch's parts run at once (1.6 cores busy, the step
  1.27x as fast), where a light step loses more to the split than it gains (64x64 Moving MNIST:
  0.73x); measured in docs/performance.md. Leaves alone a count the user chose (JAX_NUM_CPU_DEVICES,
  jax_num_cpu_devices or XLA_FLAGS' --xla_force_host_platform_device_count), a mesh that is not
  data-parallel (one -1 axis, every other 1), and a host where JAX has an accelerator's plug-in
  (libtpu, jax_cuda*_plugin, jax_rocm*_plugin) or is told other platforms. Returns the count set, or None.
  """
  wanted = config.get("cpu_devices", 1)
  if isinstance(wanted, bool) or not isinstance(wanted, int) or wanted < 0:
    raise errors.ConfigError(f"config.cpu_devices={wanted!r}: expected 0 (one per core) or a positive integer.")
  if wanted == 1 or jax.config.jax_num_cpu_devices >= 0 or "xla_force_host_platform_device_count" in os.environ.get(
      "XLA_FLAGS", ""):
    return None
  sizes = [int(v) for v in config.mesh.values()]
  if sizes.count(-1) != 1 or any(s not in (1, -1) for s in sizes):
    return None
  if os.environ.get("JAX_PLATFORMS", "cpu") != "cpu" or any(
      importlib.util.find_spec(name) for name in ("libtpu", "jax_cuda12_plugin", "jax_cuda13_plugin",
                                                   "jax_rocm60_plugin", "jax_rocm7_plugin")):
    return None
  if not wanted:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    wanted = max(n for n in range(1, cores + 1) if config.batch_size % n == 0)
  jax.config.update("jax_num_cpu_devices", wanted)
  return wanted


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
  """Leading (batch) dimension split over the mesh's data-parallel axes."""
  return NamedSharding(mesh, P(tuple(a for a in BATCH_AXES if a in mesh.axis_names)))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def _leaf_spec(path: str, shape: Sequence[int], mesh: Mesh, rules, min_size: int) -> P:
  if math.prod(shape) < min_size:
    return P()
  for pattern, spec in rules:
    if not re.fullmatch(pattern, path):
      continue
    if spec == "replicated":
      return P()
    if spec == "fsdp":
      n = mesh.shape.get(FSDP_AXIS, 1)
      if n == 1:
        return P()
      # The largest dimension that splits evenly; ties go to the last (output) one.
      candidates = [i for i, d in enumerate(shape) if d % n == 0]
      if not candidates:
        return P()
      dim = max(candidates, key=lambda i: (shape[i], i))
      return P(*[FSDP_AXIS if i == dim else None for i in range(len(shape))])
    spec = tuple(spec)
    if len(spec) != len(shape):
      raise ValueError(f"sharding rule {pattern!r} -> {spec} has {len(spec)} entries; {path} has shape {tuple(shape)}.")
    for axis, size in zip(spec, shape, strict=True):
      if axis is not None and size % mesh.shape[axis]:
        raise ValueError(
            f"sharding rule {pattern!r} -> {spec}: dimension {size} of {path} {tuple(shape)} "
            f"is not divisible by mesh axis {axis!r} of size {mesh.shape[axis]}."
        )
    return P(*spec)
  return P()


def state_shardings(abstract_tree, mesh: Mesh, sharding_config: ml_collections.ConfigDict):
  """A NamedSharding for every leaf of `abstract_tree`, chosen by the config's rules."""
  rules = [(pattern, spec) for pattern, spec in sharding_config.rules]

  def leaf(path, x):
    name = jax.tree_util.keystr(path, simple=True, separator="/")
    return NamedSharding(mesh, _leaf_spec(name, x.shape, mesh, rules, sharding_config.min_size))

  return jax.tree_util.tree_map_with_path(leaf, abstract_tree)


def describe_shardings(abstract_tree, max_lines: int = 8) -> str:
  """Bytes of the state per device vs in total, and the sharded parameters."""
  leaves = jax.tree_util.tree_leaves_with_path(abstract_tree)
  total = sum(x.size * x.dtype.itemsize for _, x in leaves)
  per_device = sum(math.prod(x.sharding.shard_shape(x.shape)) * x.dtype.itemsize for _, x in leaves)
  lines = [f"State: {per_device / 2**20:.1f} MiB per device of {total / 2**20:.1f} MiB."]
  sharded = [(jax.tree_util.keystr(path, simple=True, separator="/"), x) for path, x in leaves
             if any(a is not None for a in x.sharding.spec)]
  params = [(name, x) for name, x in sharded if name.split("/")[0] in ("g_params", "d_params")]
  if sharded:
    lines.append(f"{len(sharded)} of {len(leaves)} state leaves are sharded; the largest parameters:")
    for name, x in sorted(params, key=lambda p: -p[1].size)[:max_lines]:
      lines.append(f"  {name} {tuple(x.shape)} -> {x.sharding.spec}")
  return "\n".join(lines)


def global_batch(local_batch: dict[str, np.ndarray], sharding: NamedSharding) -> dict[str, jax.Array]:
  """Assembles each process's slice of the batch into global jax.Arrays."""
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), local_batch)


def _cluster_launched() -> bool:
  """Whether a launcher started several processes of this job (Slurm's srun, Open MPI, a GKE TPU slice).

  Cloud TPU VMs announce their workers only through the metadata server, so
  there `--distributed=on` is needed (launch/tpu_vm.sh passes it).
  """
  env = os.environ
  return (
      int(env.get("SLURM_NTASKS", "1")) > 1 and "SLURM_STEP_ID" in env
      or int(env.get("OMPI_COMM_WORLD_SIZE", "1")) > 1
      or "," in env.get("TPU_WORKER_HOSTNAMES", "")
  )


def wants_distributed(mode: str = "auto", coordinator_address: str | None = None) -> bool:
  """Whether `initialize_distributed(mode, coordinator_address, ...)` starts JAX's distributed runtime."""
  return mode == "on" or (mode == "auto" and (coordinator_address is not None or _cluster_launched()))


def initialize_distributed(
    mode: str = "auto",
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> None:
  """Starts JAX's distributed runtime when this job runs as several processes.

  mode "auto": with an explicit coordinator, or when launched by Slurm (srun),
  Open MPI or on a GKE TPU slice; "on": always (JAX detects the cluster,
  including Cloud TPU VM pod slices); "off": never. Must run before any JAX computation. CPU collectives
  across processes use gloo.
  """
  if not wants_distributed(mode, coordinator_address):
    return
  explicit = coordinator_address is not None
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  if explicit:
    jax.distributed.initialize(coordinator_address, num_processes, process_id)
  else:
    jax.distributed.initialize()
  logging.info(
      "Distributed: process %d of %d, %d local / %d global devices.",
      jax.process_index(), jax.process_count(), jax.local_device_count(), jax.device_count(),
  )
