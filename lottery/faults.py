"""Named kill points for the fault-injection suite (``tests/faults``).

The drivers call ``point(name, **where)`` at the moments where a crash is most
likely to leave something half-done: after the lock is taken, as an epoch starts
(and so while its program compiles), right after an asynchronous checkpoint save
is started, between a member's files, between the renames of a level's
replicate folders, inside an atomic write, while the report is drawn. A point's
label is ``name`` followed by ``:key=value`` for each ``where`` item in order,
e.g. ``checkpoint_started:level=1:step=24``.

With the environment variable ``LOTTERY_KILL_AT`` unset (every normal run) a
point does nothing but one dictionary lookup. Set to a label, the process sends
itself SIGKILL the first time it reaches that label; ``LABEL@SECONDS`` sends it
that many seconds after (from a timer thread, so the kill lands in whatever the
main thread is doing then: compiling, training, writing). SIGKILL is not
catchable: no ``finally`` block, no ``atexit`` handler runs, exactly as when a
preemptible machine disappears.
"""

from __future__ import annotations

import os
import signal
import threading

ENV = "LOTTERY_KILL_AT"


def label(name: str, **where: object) -> str:
    """Returns the label of a point: ``name:key=value:...`` (``where`` in order)."""
    return name + "".join(f":{k}={v}" for k, v in where.items())


def point(name: str, **where: object) -> None:
    """Kills this process (SIGKILL) if ``LOTTERY_KILL_AT`` names this point; returns
    None otherwise. See the module docstring for the label and delay syntax."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    target, _, delay = spec.partition("@")
    if target != label(name, **where):
        return
    if delay:
        timer = threading.Timer(float(delay), _kill)
        timer.daemon = True
        timer.start()
    else:
        _kill()


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
