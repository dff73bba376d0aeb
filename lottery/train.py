"""Masked training: a pure train step, an epoch as one ``lax.scan``, evaluation.

Pruned weights stay **exactly** zero: the gradient is masked before the
optimizer (so momentum and Adam moments of a pruned weight stay zero) and the
new params are masked after the update (so weight decay or anything else in the
optax chain cannot revive one). ``mask=None`` trains densely with no masking ops.

Every function here works on one replicate; ``fit`` and ``compile_epoch`` add a
leading replicate axis with ``jax.vmap`` when asked, so K seeds or K masks train
in one compiled program. A trainer with a ``layout`` (``lottery.mesh``) runs the
same program over several devices: batches split (``"data"``) or replicates
split (``"replicates"``).

Mixed precision (``dtype="bfloat16"``): the forward and backward passes run in
bfloat16 on a bfloat16 copy of the params and inputs, while the params, their
gradients, the optimizer state and BatchNorm statistics stay float32 (the cast's
gradient is a cast back); the loss is computed from float32 logits. Masks stay
boolean. bfloat16 has float32's exponent range, so no loss scaling is needed.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tqdm

from lottery import masks as masks_lib
from lottery import mesh as mesh_lib
from lottery.data.base import Dataset
from lottery.data.pipeline import augment_batch, epoch_indices
from lottery.errors import LotteryError
from lottery.models.base import Model
from lottery.schedules import make_optimizer, make_schedule, parse_duration

PyTree = Any
COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["step", "params", "model_state", "opt_state"],
    meta_fields=[],
)
@dataclasses.dataclass
class TrainState:
    """Everything that changes during training: step counter (int32 scalar),
    params, model state (BatchNorm statistics, ``{}`` if none), optimizer state."""

    step: jax.Array
    params: PyTree
    model_state: PyTree
    opt_state: PyTree


@dataclasses.dataclass(frozen=True)
class Trainer:
    """The static description of a training run (hashable; closed over by jit).

    ``total_steps`` and ``steps_per_epoch`` come from the config's durations and
    the dataset size (the last partial batch of an epoch is dropped). ``dtype``
    is the compute dtype (``"float32"`` or ``"bfloat16"``); ``layout`` spreads
    the program over devices (None: one device).
    """

    model: Model
    optimizer: optax.GradientTransformation
    batch_size: int
    steps_per_epoch: int
    total_steps: int
    augment: str = "none"
    eval_batch_size: int = 1000
    dtype: str = "float32"
    layout: mesh_lib.Layout | None = None

    @property
    def num_epochs(self) -> int:
        """Returns the number of (possibly partial, for the last) epochs."""
        return -(-self.total_steps // self.steps_per_epoch)


def make_trainer(
    model: Model, dataset: Dataset, train_cfg: Mapping, layout: mesh_lib.Layout | None = None
) -> Trainer:
    """Returns the ``Trainer`` for ``train_cfg`` (the config's ``train`` block),
    on the devices of ``layout`` (None: one device). With a ``"data"`` layout the
    batch size must be a multiple of the number of devices."""
    batch_size = int(train_cfg["batch_size"])
    n = len(dataset.x_train)
    if n == 0:
        raise LotteryError("data", "the training set is empty")
    if not 1 <= batch_size <= n:
        raise LotteryError(
            "train.batch_size", f"must be in [1, {n}] (the training set size), got {batch_size}"
        )
    if layout is not None and layout.axis == "data" and batch_size % layout.size:
        raise LotteryError(
            "parallel.devices",
            f"{layout.size} devices do not split train.batch_size {batch_size} evenly",
        )
    dtype = str(train_cfg.get("dtype", "float32"))
    if dtype not in COMPUTE_DTYPES:
        allowed = ", ".join(COMPUTE_DTYPES)
        raise LotteryError("train.dtype", f"unknown dtype '{dtype}'; allowed: {allowed}")
    steps_per_epoch = n // batch_size
    total = parse_duration(train_cfg["duration"], steps_per_epoch, "train.duration")
    if total < 1:
        raise LotteryError("train.duration", "must be at least one step")
    schedule = make_schedule(train_cfg, total, steps_per_epoch)
    return Trainer(
        model=model,
        optimizer=make_optimizer(train_cfg, schedule),
        batch_size=batch_size,
        steps_per_epoch=steps_per_epoch,
        total_steps=total,
        augment=dataset.augment,
        eval_batch_size=int(train_cfg.get("eval_batch_size", 1000)),
        dtype=dtype,
        layout=layout,
    )


def init_state(trainer: Trainer, key: jax.Array, mask: PyTree | None = None) -> TrainState:
    """Returns a fresh ``TrainState`` at step 0 (params masked if ``mask`` given)."""
    params, model_state = trainer.model.init(key)
    return state_from_params(trainer, params, model_state, mask)


def state_from_params(
    trainer: Trainer, params: PyTree, model_state: PyTree, mask: PyTree | None = None
) -> TrainState:
    """Returns a ``TrainState`` at step 0 holding ``params`` and a new optimizer state."""
    if mask is not None:
        params = masks_lib.apply(params, mask)
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        model_state=model_state,
        opt_state=trainer.optimizer.init(params),
    )


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Returns the mean softmax cross-entropy of integer ``labels``."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def cast_floats(tree: PyTree, dtype) -> PyTree:
    """Returns ``tree`` with every floating-point leaf cast to ``dtype`` (others kept)."""
    return jax.tree.map(
        lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree
    )


def forward(
    model: Model, params: PyTree, model_state: PyTree, x: jax.Array, train: bool, dtype: str
) -> tuple[jax.Array, PyTree]:
    """Returns ``(logits, new_model_state)`` of ``model.apply`` computed in ``dtype``
    (``"float32"`` or ``"bfloat16"``): params and inputs are cast for the pass,
    the logits come back float32 and the model state in its own dtypes."""
    if dtype == "float32":
        return model.apply(params, model_state, x, train=train)
    compute = COMPUTE_DTYPES[dtype]
    logits, new_state = model.apply(
        cast_floats(params, compute), model_state, x.astype(compute), train=train
    )
    new_state = jax.tree.map(lambda new, old: new.astype(old.dtype), new_state, model_state)
    return logits.astype(jnp.float32), new_state


def train_step(
    trainer: Trainer, state: TrainState, mask: PyTree | None, x: jax.Array, y: jax.Array
) -> tuple[TrainState, dict[str, jax.Array]]:
    """Returns ``(new_state, {"loss", "accuracy"})`` after one optimizer step on
    the batch ``(x, y)``; with a mask, pruned weights stay exactly zero. The pass
    runs in ``trainer.dtype``; gradients and the update are float32."""

    def loss_fn(params):
        logits, model_state = forward(
            trainer.model, params, state.model_state, x, True, trainer.dtype
        )
        return cross_entropy(logits, y), (logits, model_state)

    (loss, (logits, model_state)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    if mask is not None:
        grads = masks_lib.apply(grads, mask)
    updates, opt_state = trainer.optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    if mask is not None:
        params = masks_lib.apply(params, mask)
    accuracy = jnp.mean(jnp.argmax(logits, -1) == y)
    new_state = TrainState(state.step + 1, params, model_state, opt_state)
    return new_state, {"loss": loss, "accuracy": accuracy}


def run_epoch(
    trainer: Trainer,
    state: TrainState,
    mask: PyTree | None,
    x: jax.Array,
    y: jax.Array,
    data_key: jax.Array,
    epoch: jax.Array,
    offset: jax.Array,
    num_steps: int,
) -> tuple[TrainState, dict[str, jax.Array]]:
    """Returns ``(state, metrics)`` after batches ``offset .. offset + num_steps``
    of epoch ``epoch``, as one ``lax.scan``. The batch order is a permutation
    drawn from ``fold_in(data_key, epoch)`` (split into a permutation key and an
    augmentation key, the latter folded with the global step), so a run stopped
    and resumed at any step sees exactly the batches an unbroken run sees.
    Metrics are the means of loss and accuracy over these steps, and ``finite``:
    whether every step's loss was finite."""
    perm_key, aug_key = jax.random.split(jax.random.fold_in(data_key, epoch))
    order = epoch_indices(perm_key, x.shape[0], trainer.batch_size)
    batches = jax.lax.dynamic_slice_in_dim(order, offset, num_steps, axis=0)

    def body(state, batch_idx):
        batch_idx = mesh_lib.constrain_batch(batch_idx, trainer.layout)
        xb, yb = x[batch_idx], y[batch_idx]
        if trainer.augment != "none":
            xb = augment_batch(jax.random.fold_in(aug_key, state.step), xb, trainer.augment)
        return train_step(trainer, state, mask, xb, yb)

    state, metrics = jax.lax.scan(body, state, batches)
    return state, {
        "loss": metrics["loss"].mean(),
        "accuracy": metrics["accuracy"].mean(),
        "finite": jnp.all(jnp.isfinite(metrics["loss"])),
    }


@functools.lru_cache(maxsize=16)
def compile_epoch(trainer: Trainer, replicated: bool = False) -> Callable:
    """Returns ``epoch(state, mask, x, y, data_key, epoch, offset, num_steps)``: ``run_epoch``
    jitted with the state donated; with ``replicated`` it maps over a leading
    axis of state, mask and data_key (data and epoch shared). Cached per trainer,
    so repeated ``fit`` calls (IMP levels) reuse the compiled program."""

    def fn(state, mask, x, y, data_key, epoch, offset, num_steps):
        one = functools.partial(run_epoch, trainer, num_steps=num_steps)
        if replicated:
            return jax.vmap(
                one, in_axes=(0, 0, None, None, 0, None, None), spmd_axis_name=_spmd(trainer)
            )(state, mask, x, y, data_key, epoch, offset)
        return one(state, mask, x, y, data_key, epoch, offset)

    return jax.jit(fn, static_argnames=("num_steps",), donate_argnums=(0,))


def _spmd(trainer: Trainer) -> str | None:
    """Returns the mesh axis a vmapped replicate axis maps onto (replicates layout)."""
    layout = trainer.layout
    return layout.axis if layout is not None and layout.axis == "replicates" else None


def evaluate(
    model: Model,
    params: PyTree,
    model_state: PyTree,
    x: jax.Array,
    y: jax.Array,
    batch_size: int = 1000,
    dtype: str = "float32",
    layout: mesh_lib.Layout | None = None,
) -> dict[str, jax.Array]:
    """Returns ``{"loss", "accuracy"}`` over all of ``(x, y)`` in eval mode,
    computed in chunks of ``batch_size`` (the last one padded and weighted out),
    in compute ``dtype``, each chunk split over the devices of a data ``layout``."""
    n = x.shape[0]
    chunk = min(batch_size, n)
    chunks = -(-n // chunk)
    pad = chunks * chunk - n
    xs = jnp.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1)).reshape(chunks, chunk, *x.shape[1:])
    ys = jnp.pad(y, (0, pad)).reshape(chunks, chunk)
    ws = (jnp.arange(chunks * chunk) < n).astype(jnp.float32).reshape(chunks, chunk)

    def one(args):
        xb, yb, wb = args
        if layout is not None and chunk % layout.size == 0:
            xb = mesh_lib.constrain_batch(xb, layout)
        logits, _ = forward(model, params, model_state, xb, False, dtype)
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, yb)
        correct = (jnp.argmax(logits, -1) == yb).astype(jnp.float32)
        return jnp.sum(losses * wb), jnp.sum(correct * wb)

    losses, correct = jax.lax.map(one, (xs, ys, ws))
    return {"loss": losses.sum() / n, "accuracy": correct.sum() / n}


@functools.lru_cache(maxsize=16)
def compile_eval(trainer: Trainer, replicated: bool = False) -> Callable:
    """Returns ``eval(state, x, y) -> {"loss", "accuracy"}``, jitted; with
    ``replicated`` it maps over the leading axis of ``state``."""

    def fn(state, x, y):
        def one(s):
            return evaluate(
                trainer.model,
                s.params,
                s.model_state,
                x,
                y,
                trainer.eval_batch_size,
                trainer.dtype,
                trainer.layout,
            )

        return jax.vmap(one, spmd_axis_name=_spmd(trainer))(state) if replicated else one(state)

    return jax.jit(fn)


def _host(tree: PyTree) -> PyTree:
    return jax.tree.map(lambda a: a.tolist(), jax.device_get(tree))


def fit(
    trainer: Trainer,
    state: TrainState,
    mask: PyTree | None,
    dataset: Dataset,
    data_key: jax.Array,
    *,
    replicated: bool = False,
    eval_every: int = 1,
    progress: bool = True,
    on_epoch: Callable[[dict], None] | None = None,
    until: int | None = None,
    on_diverged: Callable[[int, int], None] | None = None,
) -> tuple[TrainState, list[dict]]:
    """Returns ``(state, history)`` after training from ``state.step`` to
    ``trainer.total_steps`` (or to step ``until``, e.g. a rewind point), one
    compiled epoch at a time. Starting or stopping inside an epoch gives exactly
    the steps an unbroken run takes there.

    ``history`` holds one record per evaluated epoch: ``epoch``, ``step``,
    ``train_loss``, ``train_accuracy`` (means over the epoch's steps run by this
    call), ``test_loss``,
    ``test_accuracy`` (lists over replicates when ``replicated``). ``on_epoch`` is
    called with each record as it is made (e.g. to append it to a JSONL file).
    A non-finite loss raises ``LotteryError`` naming the learning rate, unless
    ``on_diverged`` is given (replicated training only): then training goes on,
    ``on_diverged(r, epoch)`` is called once per replicate ``r`` whose loss was
    NaN or infinite in 1-based ``epoch`` (its later arithmetic stays NaN: vmapped
    replicates share no values, so the others are unaffected), and the caller
    marks it (``lottery.branch``). A mask that does not match the params raises
    ``LotteryError`` naming the first bad leaf. The
    input ``state`` is donated to the compiled epoch: use the returned one.

    With ``trainer.layout`` the inputs are laid out over its devices first (see
    ``lottery.mesh``); a replicates layout pads the replicate axis to a multiple
    of the device count with copies of the last replicate, dropped again from the
    returned state and history.
    """
    if mask is not None:  # one clear error naming the first mismatching leaf
        first = (lambda t: jax.tree.map(lambda a: a[0], t)) if replicated else (lambda t: t)
        masks_lib.validate(first(mask), first(state.params))
    x_train, y_train = jnp.asarray(dataset.x_train), jnp.asarray(dataset.y_train)
    x_test, y_test = jnp.asarray(dataset.x_test), jnp.asarray(dataset.y_test)
    kept = int(np.shape(state.step)[0]) if replicated else 0
    if trainer.layout is not None:
        state, mask, data_key = lay_out(trainer.layout, replicated, (state, mask, data_key))
        x_train, y_train, x_test, y_test = mesh_lib.place(
            (x_train, y_train, x_test, y_test), trainer.layout.replicated()
        )
    epoch_fn = compile_epoch(trainer, replicated)
    eval_fn = compile_eval(trainer, replicated)
    spe = trainer.steps_per_epoch
    step = int(jax.device_get(state.step).reshape(-1)[0])
    stop = trainer.total_steps if until is None else min(until, trainer.total_steps)
    history: list[dict] = []
    if on_diverged is not None and not replicated:
        raise LotteryError("on_diverged", "marks replicates; this training has none")
    reported: set[int] = set()
    bar = tqdm.tqdm(
        total=trainer.num_epochs, initial=step // spe, disable=not progress, unit="ep", leave=False
    )
    with bar:
        while step < stop:
            epoch, offset = divmod(step, spe)
            num_steps = min(spe - offset, stop - step)
            state, metrics = epoch_fn(
                state,
                mask,
                x_train,
                y_train,
                data_key,
                jnp.int32(epoch),
                jnp.int32(offset),
                num_steps,
            )
            step += num_steps
            metrics = _trim(_host(metrics), kept)
            finite = np.atleast_1d(metrics["finite"])
            if on_diverged is not None:
                for r in np.flatnonzero(~finite):
                    if int(r) not in reported:
                        reported.add(int(r))
                        on_diverged(int(r), epoch + 1)
            elif not np.all(finite):
                raise LotteryError(
                    "train.optimizer.learning_rate",
                    f"the training loss became NaN or infinite in epoch {epoch + 1}; "
                    "lower the learning rate",
                )
            epoch_done = step % spe == 0 or step == trainer.total_steps
            if not epoch_done:
                continue  # stopped inside an epoch (``until``): no record
            bar.update(1)
            if (epoch + 1) % eval_every and step != trainer.total_steps:
                continue
            test = _trim(_host(eval_fn(state, x_test, y_test)), kept)
            record = {
                "epoch": epoch + 1,
                "step": step,
                "train_loss": metrics["loss"],
                "train_accuracy": metrics["accuracy"],
                "test_loss": test["loss"],
                "test_accuracy": test["accuracy"],
            }
            history.append(record)
            bar.set_postfix(test_acc=f"{np.mean(test['accuracy']):.3f}")
            if on_epoch is not None:
                on_epoch(record)
    if replicated and int(np.shape(state.step)[0]) != kept:  # drop the padding
        state = jax.tree.map(lambda a: a[:kept], state)
    return state, history


def _trim(metrics: dict, kept: int) -> dict:
    """Returns per-replicate metric lists cut to the first ``kept`` (the padding dropped)."""
    return {k: (v[:kept] if isinstance(v, list) else v) for k, v in metrics.items()}


def lay_out(layout: mesh_lib.Layout, replicated: bool, trees: tuple) -> tuple:
    """Returns ``trees`` (state, mask, data keys; the state first) placed on
    ``layout``'s devices, as ``fit`` places them:
    whole on every device (data layout), or split along the replicate axis after
    padding it to a multiple of the device count with copies of the last entry."""
    if layout.axis == "data":
        return mesh_lib.place(trees, layout.replicated())
    if not replicated:
        raise LotteryError(
            "parallel.mesh", "'replicates' splits a replicate axis; this training has none"
        )
    k = int(np.shape(trees[0].step)[0])
    pad = -k % layout.size
    if pad:
        trees = jax.tree.map(lambda a: jnp.concatenate([a, jnp.repeat(a[-1:], pad, axis=0)]), trees)
    return mesh_lib.place(trees, layout.split())
