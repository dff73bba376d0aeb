"""Shared by every test module: caches that change no result, only the time.

* ``LOTTERY_MNIST1D_CACHE``: one folder for the session, so the many subprocess
  runs (resume, fault injection) generate each MNIST-1D variant once.
* JAX's persistent compilation cache, in-process and inherited by subprocesses:
  a program compiled once (the same HLO, flags and backend) is loaded instead of
  compiled again by later tests; the executable is the same, so are the results.
  The fault suite turns it off where a kill must land inside the compiler.

Both folders are fresh per session (nothing carries over between runs) unless the
caller set the variables.
"""

from __future__ import annotations

import os
import shutil
import tempfile

CACHE_ENV = {
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
}
_made: list[str] = []


def pytest_configure(config):
    root = tempfile.mkdtemp(prefix="lottery-test-caches-")
    _made.append(root)
    os.environ.setdefault("LOTTERY_MNIST1D_CACHE", os.path.join(root, "mnist1d"))
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(root, "jax"))
    for key, value in CACHE_ENV.items():
        os.environ.setdefault(key, value)
    import jax  # after the variables: jax reads them when its config is first used

    jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def pytest_unconfigure(config):
    for root in _made:
        shutil.rmtree(root, ignore_errors=True)
