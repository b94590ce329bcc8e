"""Stopping asyncio tasks for certain.

Cancelling a task and awaiting it is not enough on Python 3.11: ``asyncio.wait_for`` (in this code or in a
library) swallows a cancellation that arrives just as the awaited work finishes, and the task then runs on —
a shutdown that awaits it hangs for ever. :func:`cancel_and_wait` cancels again until the task is done.
"""

from __future__ import annotations

import asyncio
from typing import Any

#: Seconds between repeated cancellations of a task that did not stop.
NUDGE_SECONDS = 0.5


async def cancel_and_wait(*tasks: asyncio.Future[Any], nudge: float = NUDGE_SECONDS) -> None:
    """Cancel ``tasks`` and return once every one is done (cancelled, finished or failed).

    A task still running ``nudge`` seconds after a cancellation is cancelled again. Results and
    exceptions of the tasks are consumed and dropped (a failure should be logged where it happens).
    Cancelling the caller cancels the wait, not the guarantee: the tasks have been asked to stop.
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=nudge)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # mark it retrieved: no "exception was never retrieved" at exit
