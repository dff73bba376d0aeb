"""Structured tickets: neuron/channel groups, group scores, N:M and block masks,
structured IMP steps and compaction into smaller networks (see DESIGN.md,
"Structured tickets").

* ``groups``: :class:`Group` declarations per architecture, ``expand`` to masks.
* ``architectures``: the registry models' couplings (imported here to register).
* ``compact``: the physically smaller dense network of a channel ticket.
* ``select``: group scores (L1, L2, BatchNorm |gamma|, summed unstructured scores)
  and unit selection at a target density.
* ``nm``: N:M masks along the input axis and block masks.
* ``flops`` (the module; ``flops.flops``, ``flops.macs``, ``flops.param_count``):
  parameter and FLOP counts, masked and compacted.
"""

from lottery.structured import architectures  # noqa: F401  (registers the declarations)
from lottery.structured.compact import compact, kept_units
from lottery.structured.groups import Group, Member, alive, declare, expand, groups_of
from lottery.structured.nm import block_mask, nm_mask
from lottery.structured.select import group_scores, keep_counts, select_units

__all__ = [
    "Group",
    "Member",
    "alive",
    "block_mask",
    "compact",
    "declare",
    "expand",
    "group_scores",
    "groups_of",
    "keep_counts",
    "kept_units",
    "nm_mask",
    "select_units",
]
