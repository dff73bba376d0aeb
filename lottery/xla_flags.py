"""The one XLA flag lottery sets: replicate-independent CPU reductions.

On the CPU, XLA (jax 0.10) hands reductions to YNNPACK fusions whose tiling
depends on the whole batched shape, so a replicate's sums (a bias gradient, a
mean) came out in a different floating-point order when it trained beside three
others than when it trained alone. With YNNPACK fusions off, the MLP trains bit
for bit the same at any vmap width (``tests/test_replicates.py``), and so do the
convolutional models without BatchNorm on AVX2 CPUs (on AVX-512 ones XLA's loop
vectorization still differs between batched shapes; see docs/decisions.md);
measured here it costs nothing (a K = 8 MLP epoch: 61 ms with the flag, 76 ms
without). The flag only names ``xla_cpu`` options, so GPU and TPU runs are untouched.

``configure`` appends the flag to ``XLA_FLAGS`` unless the user already chose a
value for it, or set ``LOTTERY_XLA_DEFAULTS=0``. It must run before JAX starts its
CPU backend; ``import lottery`` calls it first thing, so import lottery before
running any JAX computation.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping

FLAG = "--xla_cpu_experimental_ynn_fusion_type="


def configure(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Adds ``FLAG`` to ``environ["XLA_FLAGS"]``; returns whether it was added
    (False when opted out or when ``XLA_FLAGS`` already sets that option)."""
    if environ.get("LOTTERY_XLA_DEFAULTS", "1") == "0":
        return False
    flags = environ.get("XLA_FLAGS", "")
    if "xla_cpu_experimental_ynn_fusion_type" in flags:
        return False
    environ["XLA_FLAGS"] = f"{flags} {FLAG}".strip()
    if _jax_started():
        print(
            "lottery: warning: JAX ran before lottery was imported, so XLA_FLAGS comes too "
            "late: on the CPU, vmapped replicates may differ from runs alone in the last "
            "bits (import lottery first, or set XLA_FLAGS yourself)",
            file=sys.stderr,
        )
    return True


def _jax_started() -> bool:
    """Returns whether a JAX backend is already running (its flags fixed)."""
    bridge = sys.modules.get("jax._src.xla_bridge")
    check = getattr(bridge, "backends_are_initialized", None)
    return bool(check and check())
