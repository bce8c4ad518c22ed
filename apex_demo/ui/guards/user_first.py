"""Visitors before background work: the arena pool warm-up waits while anyone's scoring runs.

On a 2-core CPU two runs at once each take twice as long, so a visitor would otherwise wait for the
warm-up's segments too. Every model-slot event is marked as a user request (ui/common.py), and the
warm-up asks `wait_turn` before every 30 s segment.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import threading
import time
from typing import Any, Callable, Iterator

# Background scoring resumes only after no user request has run for this long: the next request
# already waiting in Gradio's queue starts within it, so it never finds the model busy.
USER_GRACE_S = 2.0
USER_POLL_S = 0.5


class UserFirst:
    """User requests before background work (the arena pool warm-up).

    Handlers that run the model enter `user_request()`; background work calls
    `wait_turn()` before every 30 s segment and waits while any request runs or ran
    within the grace period. On a 2-core CPU two runs at once each take twice as long,
    so a visitor would otherwise wait for the warm-up's segments too.
    """

    def __init__(self, grace_s: float = USER_GRACE_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._grace_s = grace_s
        self._clock = clock
        self._cond = threading.Condition()
        self._active = 0
        self._last_end = -math.inf

    @contextlib.contextmanager
    def user_request(self) -> Iterator[None]:
        """Mark a user request as running for the duration of the block."""
        with self._cond:
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._last_end = self._clock()
                self._cond.notify_all()

    def marked(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        """`handler` run as a user request from its first line to its end. A generator handler
        (streaming results) stays a generator, so the mark lasts until its last yield; the
        signature is kept (functools.wraps), so Gradio still injects gr.Request and gr.Progress."""
        if inspect.isgeneratorfunction(handler):
            @functools.wraps(handler)
            def streaming(*args: Any, **kwargs: Any) -> Iterator[Any]:
                with self.user_request():
                    yield from handler(*args, **kwargs)

            return streaming

        @functools.wraps(handler)
        def plain(*args: Any, **kwargs: Any) -> Any:
            with self.user_request():
                return handler(*args, **kwargs)

        return plain

    def wait_turn(self, stopping: threading.Event) -> bool:
        """Block until no user request runs or ran within the grace period; False once `stopping` is set."""
        with self._cond:
            while not stopping.is_set():
                idle_for = self._clock() - self._last_end
                if self._active == 0 and idle_for >= self._grace_s:
                    return True
                self._cond.wait(USER_POLL_S if self._active else max(self._grace_s - idle_for, 0.01))
        return False
