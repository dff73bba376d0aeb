"""Devices: a ``jax.sharding.Mesh`` for data parallelism or for spreading
replicates, and multi-host start-up. Nothing home-made: XLA's SPMD partitioner
(GSPMD) splits the compiled epoch once the inputs carry ``NamedSharding``s.

Two layouts, chosen by ``parallel.mesh``:

* ``"data"``: every device holds the whole state (params, optimizer state,
  masks: replicated) and a slice of every batch; the gradient's mean over the
  batch becomes an all-reduce. The per-replicate batch must divide evenly.
* ``"replicates"``: the leading replicate axis of state, masks and keys is
  split over the devices; each device trains its own replicates, with no
  communication. A chunk that does not divide evenly is padded with copies of
  its last member, whose results are dropped (``lottery.branch``).

The dataset itself is replicated on every device (the small datasets this
library targets fit many times over); batches are gathered on the device.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from lottery.errors import LotteryError

PyTree = Any
# signs that this process is one of several started by a cluster launcher
_CLUSTER_MARKERS = ("JAX_COORDINATOR_ADDRESS", "OMPI_MCA_orte_hnp_uri")


def multi_host_environment(environ: Mapping[str, str] = os.environ) -> bool:
    """Returns whether the environment describes a multi-process JAX job: an
    explicit ``JAX_COORDINATOR_ADDRESS``, an Open MPI launch, or a Slurm step
    with more than one task."""
    if any(name in environ for name in _CLUSTER_MARKERS):
        return True
    return int(environ.get("SLURM_NTASKS", "1") or 1) > 1 and "SLURM_JOB_ID" in environ


def initialize_distributed(environ: Mapping[str, str] = os.environ) -> bool:
    """Calls ``jax.distributed.initialize()`` when ``multi_host_environment`` says
    this is a multi-process job (``JAX_NUM_PROCESSES`` / ``JAX_PROCESS_ID`` are
    passed on when set; Slurm and Open MPI are detected by JAX itself); returns
    whether it did. Must run before any JAX computation (``lottery run`` calls it
    first). ``LOTTERY_DISTRIBUTED=0`` turns it off."""
    if environ.get("LOTTERY_DISTRIBUTED", "1") == "0" or not multi_host_environment(environ):
        return False
    kwargs = {}
    if "JAX_NUM_PROCESSES" in environ:
        kwargs["num_processes"] = int(environ["JAX_NUM_PROCESSES"])
    if "JAX_PROCESS_ID" in environ:
        kwargs["process_id"] = int(environ["JAX_PROCESS_ID"])
    jax.distributed.initialize(**kwargs)
    return True


@dataclasses.dataclass(frozen=True)
class Layout:
    """A mesh with one axis, named ``axis`` (``"data"`` or ``"replicates"``)."""

    mesh: Mesh
    axis: str

    @property
    def size(self) -> int:
        """Returns the number of devices."""
        return int(self.mesh.devices.size)

    def replicated(self) -> NamedSharding:
        """Returns the sharding that puts a whole copy on every device."""
        return NamedSharding(self.mesh, PartitionSpec())

    def split(self) -> NamedSharding:
        """Returns the sharding that splits an array's leading axis over the devices."""
        return NamedSharding(self.mesh, PartitionSpec(self.axis))


def layout(parallel: Mapping) -> Layout | None:
    """Returns the ``Layout`` of a config's ``parallel`` block, or None for one
    device (``devices`` 1, the default: no sharding at all). ``devices`` 0 means
    every device JAX sees (all hosts'). Raises ``LotteryError`` naming
    ``parallel.devices`` if more devices are asked for than exist."""
    want, available = int(parallel["devices"]), jax.device_count()
    count = available if want == 0 else want
    if count > available:
        raise LotteryError(
            "parallel.devices", f"asks for {count} devices but JAX sees {available}: {_kinds()}"
        )
    if count == 1:
        return None
    axis = str(parallel["mesh"])
    devices = np.asarray(jax.devices()[:count])
    return Layout(Mesh(devices, (axis,), axis_types=(AxisType.Auto,)), axis)


def _kinds() -> str:
    return ", ".join(sorted({f"{d.platform}:{d.device_kind}" for d in jax.devices()}))


def place(tree: PyTree, sharding: jax.sharding.Sharding) -> PyTree:
    """Returns ``tree`` with every leaf laid out by ``sharding``. Works on one host
    and on many (each process fills its own devices from its copy of the host
    data, which must be the same on every process)."""

    def one(leaf):
        if isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            data = one(jax.random.key_data(leaf))
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(leaf))
        if jax.process_count() == 1:
            return jax.device_put(leaf, sharding)
        host = np.asarray(jax.device_get(leaf) if isinstance(leaf, jax.Array) else leaf)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree.map(one, tree)


def constrain_batch(x: jax.Array, where: Layout | None) -> jax.Array:
    """Returns ``x`` (a batch, examples first) constrained to be split over the
    ``data`` axis when ``where`` is a data layout; otherwise ``x`` unchanged."""
    if where is None or where.axis != "data":
        return x
    spec = PartitionSpec(where.axis, *([None] * (x.ndim - 1)))
    return jax.lax.with_sharding_constraint(x, NamedSharding(where.mesh, spec))
