"""Zhou, Lan, Liu & Yosinski (2019), "Deconstructing Lottery Tickets: Zeros, Signs,
and the Supermask", as extensions of ``lottery`` through its public registries only.

Importing this module registers (once; importing it again changes nothing):

* IMP criteria (``imp.criterion``), with ``w_f`` the previous level's trained
  weights and ``w_i`` level 0's rewind weights (the initialization when
  ``imp.rewind = "init"``):
  ``large_final`` = ``|w_f|`` (the library's default ``magnitude``),
  ``magnitude_increase`` = ``|w_f| - |w_i|``, ``movement`` = ``|w_f - w_i|``.
* the control branch ``reset_to_sign`` (``imp.controls``): the ticket's mask on
  ``alpha_l * sign(w_start)``, with ``alpha_l`` the standard deviation of layer
  ``l``'s starting weights (all of them, kept or not), for every prunable layer;
  other leaves (biases) and the model state are the ticket's own. This is Zhou et
  al.'s "constant" reset: each weight keeps only its initial sign, at plus or minus
  the spread of its layer's initialization.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lottery import controls, criteria
from lottery.scores.magnitude import magnitude

CRITERIA = ("large_final", "magnitude_increase", "movement")


def large_final(trained, initial):
    """Returns ``|w_f|`` (Zhou et al.'s ``large_final``; Frankle & Carbin's rule)."""
    del initial
    return magnitude(trained)


def magnitude_increase(trained, initial):
    """Returns ``|w_f| - |w_i|`` (Zhou et al.'s ``magnitude_increase``)."""
    return jax.tree.map(lambda f, i: jnp.abs(f) - jnp.abs(i), trained, initial)


def movement(trained, initial):
    """Returns ``|w_f - w_i|`` (Zhou et al.'s ``movement``)."""
    return jax.tree.map(lambda f, i: jnp.abs(f - i), trained, initial)


def reset_to_sign(ctx: controls.Context, model, prunable):
    """Returns the ticket's mask and its starting weights with every prunable layer
    replaced by ``std(layer) * sign(w)`` (Zhou et al.'s "constant" reset)."""
    del model

    def one(w, flag):
        return jnp.std(w) * jnp.sign(w) if flag else w

    params = jax.tree.map(one, ctx.start["params"], prunable)
    return ctx.ticket_mask, {"params": params, "model_state": ctx.start["model_state"]}


def _register() -> None:
    """Registers the criteria and the control unless an earlier import did."""
    for name, fn in zip(CRITERIA, (large_final, magnitude_increase, movement), strict=True):
        if name not in criteria.CRITERIA:
            criteria.register_criterion(name)(fn)
    if "reset_to_sign" not in controls.CONTROLS:
        controls.register_control("reset_to_sign", reset_to_sign)


_register()
