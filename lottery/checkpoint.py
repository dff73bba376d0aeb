"""Checkpoints on disk: one pytree per directory (a mask, the weights at init,
rewind point or end of training) and a rolling set of training states for resume.

This is the only module that imports orbax. Typed PRNG keys are stored as their
``key_data`` and wrapped back when the template leaf is a key. Every save also
records each leaf's path, dtype and shape and a SHA-256 of all bytes; a restore
checks them against the template and the restored data, so a mismatch or a
damaged file raises ``LotteryError`` instead of returning a wrong tree.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from lottery import faults
from lottery.errors import LotteryError

PyTree = Any
_DIGEST = "lottery_sha256"
_LEAVES = "lottery_leaves"


def _is_key(leaf) -> bool:
    return jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def _storable(tree: PyTree) -> PyTree:
    return jax.tree.map(lambda a: jax.random.key_data(a) if _is_key(a) else a, tree)


def _storable_template(template: PyTree) -> PyTree:
    def one(t):
        if _is_key(t):
            return jax.eval_shape(jax.random.key_data, t)
        return jax.ShapeDtypeStruct(np.shape(t), t.dtype)

    return jax.tree.map(one, template)


def _unstorable(template: PyTree, tree: PyTree) -> PyTree:
    def one(t, a):
        if not _is_key(t):
            return a
        impl = jax.random.key_impl(jnp.empty((0,), t.dtype))
        return jax.random.wrap_key_data(a, impl=impl)

    return jax.tree.map(one, template, tree)


def _describe(tree: PyTree) -> list[list]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return [[jax.tree_util.keystr(p), str(a.dtype), list(np.shape(a))] for p, a in leaves]


def _digest(tree: PyTree) -> str:
    h = hashlib.sha256()
    for path, leaf in jax.tree_util.tree_flatten_with_path(jax.device_get(tree))[0]:
        a = np.ascontiguousarray(leaf)
        h.update(f"{jax.tree_util.keystr(path)}|{a.dtype}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _error(path: Path, reason: str) -> LotteryError:
    return LotteryError("checkpoint", f"cannot restore '{path}': {reason}")


def _short(exc: Exception) -> str:
    line = (str(exc).strip().splitlines() or [""])[0].split(" See full TensorStore")[0]
    return f"{type(exc).__name__}: {line[:160]}".rstrip(": ")


def _check_layout(path: Path, custom: dict | None, want: PyTree) -> None:
    if not custom or _DIGEST not in custom or _LEAVES not in custom:
        raise _error(path, "its metadata has no lottery digest (damaged, or not saved by lottery)")
    saved = {leaf[0]: leaf for leaf in custom[_LEAVES]}
    wanted = {leaf[0]: leaf for leaf in _describe(want)}
    for name in sorted(saved.keys() | wanted.keys()):
        if name not in wanted:
            raise _error(path, f"leaf {name or '<root>'} is saved but not in the template")
        if name not in saved:
            raise _error(path, f"leaf {name or '<root>'} is in the template but not saved")
        if saved[name] != wanted[name]:
            (_, d1, s1), (_, d2, s2) = saved[name], wanted[name]
            raise _error(path, f"leaf {name} is {d1}{s1} on disk but {d2}{s2} in the template")


def _prepare(tree: PyTree) -> tuple[PyTree, dict]:
    """Returns the storable tree and the custom metadata (digest, leaf layout) to save."""
    data = _storable(tree)
    return data, {_DIGEST: _digest(data), _LEAVES: _describe(data)}


@contextlib.contextmanager
def _reading(path: Path):
    """Turns any orbax/tensorstore/json error of a damaged checkpoint into one line."""
    try:
        yield
    except LotteryError:
        raise
    except Exception as exc:
        raise _error(path, _short(exc)) from None


def _check_digest(path: Path, custom: dict, data: PyTree) -> None:
    if _digest(data) != custom[_DIGEST]:
        raise _error(path, "checksum mismatch (the checkpoint is corrupted)")


def save_tree(path: str | Path, tree: PyTree, *, overwrite: bool = False) -> None:
    """Saves ``tree`` to the directory ``path`` and returns when it is on disk.

    orbax writes a temporary directory and renames it into place, so ``path``
    holds a complete checkpoint or nothing. Raises ``LotteryError`` if ``path``
    exists, unless ``overwrite`` (which removes the old one first).
    """
    path = Path(path).absolute()
    if path.exists() and not overwrite:
        raise LotteryError("checkpoint", f"'{path}' exists; pass overwrite=True to replace it")
    data, custom = _prepare(tree)
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(path, data, custom_metadata=custom, force=overwrite)
        faults.point("tree_saving", item=path.name)
        ckptr.wait_until_finished()


def restore_tree(path: str | Path, template: PyTree) -> PyTree:
    """Returns the tree saved at ``path``, with the structure, dtypes and shapes of
    ``template`` (arrays or ``jax.ShapeDtypeStruct``; typed keys come back as keys).

    Raises ``LotteryError`` naming ``path`` if it is missing, damaged, or does not
    match ``template``.
    """
    path = Path(path).absolute()
    if not path.is_dir():
        raise _error(path, "no such checkpoint directory")
    want = _storable_template(template)
    with _reading(path), ocp.StandardCheckpointer() as ckptr:
        custom = ckptr.metadata(path).custom_metadata
        _check_layout(path, custom, want)
        data = ckptr.restore(path, want)
    _check_digest(path, custom, data)
    return _unstorable(template, data)


def saved_digest(path: str | Path) -> str:
    """Returns the SHA-256 of every leaf's path, dtype, shape and bytes recorded
    when the tree at ``path`` was saved (what ``restore_tree`` checks the data
    against): two checkpoints with equal digests hold equal trees. Raises
    ``LotteryError`` naming ``path`` if there is none or it has no digest."""
    path = Path(path).absolute()
    if not path.is_dir():
        raise _error(path, "no such checkpoint directory")
    with _reading(path), ocp.StandardCheckpointer() as ckptr:
        custom = ckptr.metadata(path).custom_metadata
    if not custom or _DIGEST not in custom:
        raise _error(path, "its metadata has no lottery digest (damaged, or not saved by lottery)")
    return str(custom[_DIGEST])


class TrainCheckpoints:
    """Training states saved every few steps under ``directory/<step>/`` (items
    ``state`` and a JSON ``meta`` dict), keeping only the latest ``keep``.

    Use as a context manager: on exit, pending saves are finished and the
    manager is closed. Saves are asynchronous (the arrays are copied to the host
    before ``save`` returns, so the state may then be donated); call
    ``wait_until_finished`` before relying on one.
    """

    def __init__(self, directory: str | Path, keep: int = 2):
        if keep < 1:
            raise LotteryError("checkpoint", f"keep must be >= 1, got {keep}")
        self.directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(
            save_decision_policy=ocp.checkpoint_managers.FixedIntervalPolicy(1),
            preservation_policy=ocp.checkpoint_managers.LatestN(keep),
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def __enter__(self) -> TrainCheckpoints:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Finishes pending saves and releases the manager; returns None."""
        self.wait_until_finished()
        self._manager.close()

    def save(self, step: int, state: PyTree, meta: dict) -> None:
        """Starts saving ``state`` and the JSON-able ``meta`` as step ``step``; returns None.

        Raises ``LotteryError`` if step ``step`` is already saved.
        """
        data, custom = _prepare(state)
        # a snapshot: orbax writes the JSON later, in a background thread, and the
        # caller may go on changing ``meta`` (a history list it appends to)
        meta = json.loads(json.dumps(meta))
        args = ocp.args.Composite(state=ocp.args.StandardSave(data), meta=ocp.args.JsonSave(meta))
        try:
            saved = self._manager.save(int(step), args=args, custom_metadata=custom, force=True)
        except ocp.checkpoint_manager.StepAlreadyExistsError:
            raise LotteryError(
                "checkpoint", f"step {step} is already saved in '{self.directory}'"
            ) from None
        if not saved:
            raise LotteryError("checkpoint", f"orbax declined to save step {step}")

    def wait_until_finished(self) -> None:
        """Blocks until every started save is on disk; returns None."""
        self._manager.wait_until_finished()

    def latest_step(self) -> int | None:
        """Returns the newest saved step on disk, or None if there is none."""
        self._manager.reload()
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        """Returns the saved steps on disk, oldest first."""
        self._manager.reload()
        return sorted(self._manager.all_steps())

    def restore(self, template_state: PyTree, step: int | None = None) -> tuple[PyTree, dict]:
        """Returns ``(state, meta)`` saved at ``step`` (default: the latest), with the
        structure, dtypes and shapes of ``template_state``.

        Raises ``LotteryError`` naming the step directory if there is none, or it
        is damaged or does not match the template.
        """
        self.wait_until_finished()
        if step is None:
            step = self.latest_step()
            if step is None:
                raise _error(self.directory, "no training checkpoint saved")
        path = self.directory / str(int(step))
        if not path.is_dir():
            raise _error(path, f"no such step (saved steps: {self.all_steps()})")
        want = _storable_template(template_state)
        restore = ocp.args.Composite(
            state=ocp.args.StandardRestore(want), meta=ocp.args.JsonRestore()
        )
        with _reading(path):
            custom = self._manager.metadata(int(step)).custom_metadata
            _check_layout(path, custom, want)
            out = self._manager.restore(int(step), args=restore)
        _check_digest(path, custom, out["state"])
        return _unstorable(template_state, out["state"]), dict(out["meta"])
