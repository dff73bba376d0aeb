"""The model zoo: a registry of factories that each return a :class:`Model`.

``get("resnet20", num_classes=10, input_shape=(32, 32, 3), shortcut="A")`` builds
a model by name; ``names()`` lists them; ``from_flax`` wraps a user's own Linen
module. Layers are named explicitly (``fc1``, ``conv1``, ``bn1``,
``stage1_block0``, ...) so parameter paths are readable, and the classifier is
always the top-level ``out`` (the model's ``output_layer``). Layouts are Flax's:
Dense kernels are ``(in, out)``, Conv kernels ``(H, W, in, out)``, images NHWC.
Every model uses Flax's default initializers (LeCun-normal kernels, zero biases,
BatchNorm scale one and bias zero); no paper-specific initialization is applied.
"""

from __future__ import annotations

import inspect
import operator
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from lottery.errors import LotteryError
from lottery.models.base import Model, param_count

__all__ = [
    "Model",
    "from_flax",
    "get",
    "names",
    "option_names",
    "param_count",
    "register",
]

Factory = Callable[..., Model]

_REGISTRY: dict[str, Factory] = {}

# Arguments every factory takes, supplied by ``get`` itself (not model options).
_REQUIRED = ("num_classes", "input_shape")


def register(name: str) -> Callable[[Factory], Factory]:
    """Returns a decorator that records a factory under ``name``.

    The factory must take keyword-only ``num_classes`` and ``input_shape`` plus
    any options with defaults, and return a :class:`Model`.
    """

    def decorator(factory: Factory) -> Factory:
        if name in _REGISTRY:
            raise LotteryError("model.name", f"model '{name}' is already registered")
        params = inspect.signature(factory).parameters
        missing = [p for p in _REQUIRED if p not in params]
        if missing:
            raise LotteryError(
                "model.name",
                f"factory for '{name}' lacks argument(s) {', '.join(missing)}",
            )
        _REGISTRY[name] = factory
        return factory

    return decorator


def names() -> tuple[str, ...]:
    """Returns the registered model names, sorted."""
    return tuple(sorted(_REGISTRY))


def option_names(name: str) -> tuple[str, ...]:
    """Returns the option names (beyond ``num_classes``/``input_shape``) that model
    ``name`` accepts, in the factory's order."""
    factory = _lookup(name)
    return tuple(p for p in inspect.signature(factory).parameters if p not in _REQUIRED)


def get(name: str, *, num_classes: int, input_shape: Sequence[int], **options: object) -> Model:
    """Returns the registered model ``name`` built for ``num_classes`` logits and
    examples of shape ``input_shape`` (no batch axis), with ``options`` passed to
    its factory.

    Raises ``LotteryError("model.name", ...)`` for an unknown name and
    ``LotteryError("model.<option>", ...)`` for an option the factory lacks.
    """
    factory = _lookup(name)
    allowed = option_names(name)
    for opt in options:
        if opt not in allowed:
            listed = ", ".join(allowed) if allowed else "(none)"
            raise LotteryError(
                f"model.{opt}", f"not an option of model '{name}'; allowed: {listed}"
            )
    num_classes = _check_num_classes(num_classes)
    input_shape = _check_input_shape(input_shape)
    return factory(num_classes=num_classes, input_shape=input_shape, **options)


def from_flax(
    module: nn.Module,
    input_shape: Sequence[int],
    num_classes: int,
    output_layer: str,
    name: str = "custom",
) -> Model:
    """Returns a :class:`Model` wrapping a user's own Linen ``module``.

    The module's ``__call__(x, train: bool)`` must map a batch of shape
    ``(N, *input_shape)`` to logits ``(N, num_classes)``, and ``output_layer``
    must name a top-level entry of its ``params``. Both are checked by tracing
    ``init`` abstractly (no arrays are allocated).
    """
    num_classes = _check_num_classes(num_classes)
    input_shape = _check_input_shape(input_shape)
    if not isinstance(module, nn.Module):
        raise LotteryError(
            "model.module", f"expected a flax.linen Module, got {type(module).__name__}"
        )

    def init(key: jax.Array):
        x = jnp.zeros((1, *input_shape), jnp.float32)
        return module.init_with_output(key, x, train=False)

    logits, variables = jax.eval_shape(init, jax.random.key(0))
    params = variables.get("params", {})
    if output_layer not in params:
        found = ", ".join(sorted(params)) if params else "(no params)"
        raise LotteryError(
            "model.output_layer",
            f"'{output_layer}' is not a top-level params entry; found: {found}",
        )
    if getattr(logits, "shape", None) != (1, num_classes):
        raise LotteryError(
            "model.num_classes",
            f"module returns shape {getattr(logits, 'shape', type(logits).__name__)} "
            f"for one example; expected (1, {num_classes})",
        )
    return Model(
        name=name,
        module=module,
        input_shape=input_shape,
        num_classes=num_classes,
        output_layer=output_layer,
    )


def _lookup(name: str) -> Factory:
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise LotteryError(
            "model.name", f"unknown model '{name}'; allowed: {', '.join(names())}"
        ) from None


def _positive_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        value = operator.index(value)
    except TypeError:
        return None
    return value if value >= 1 else None


def _check_num_classes(num_classes: object) -> int:
    value = _positive_int(num_classes)
    if value is None:
        raise LotteryError("model.num_classes", f"must be a positive integer, got {num_classes!r}")
    return value


def _check_input_shape(input_shape: object) -> tuple[int, ...]:
    try:
        dims = tuple(_positive_int(d) for d in input_shape)  # type: ignore[union-attr]
    except TypeError:
        dims = ()
    if not dims or None in dims:
        raise LotteryError(
            "model.input_shape",
            f"must be a non-empty sequence of positive integers, got {input_shape!r}",
        )
    return dims  # type: ignore[return-value]


def check_rank(name: str, input_shape: tuple[int, ...], ranks: tuple[int, ...]) -> None:
    """Raises ``LotteryError("model.input_shape", ...)`` unless ``input_shape`` has
    one of ``ranks`` (used by factories whose layers need e.g. an (H, W, C) image)."""
    if len(input_shape) not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise LotteryError(
            "model.input_shape",
            f"model '{name}' needs an input shape of rank {want} "
            f"(no batch axis), got {input_shape}",
        )


# Import every model family so its factories register. These come last because
# each module imports ``register`` from this (by then partly initialized) package.
from lottery.models import (  # noqa: E402, F401
    cnn1d,
    convnets,
    lenet,
    mlp,
    resnet18,
    resnet_cifar,
    vgg,
)
