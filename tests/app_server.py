"""Run the web app in-process on a free loopback port, for the API and browser tests."""

from __future__ import annotations

import contextlib
import socket
from typing import Iterator

from apex_demo.config import Settings
from apex_demo.ui import build_app, create_context, launch_options
from apex_demo.ui.context import AppContext


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_app(settings: Settings) -> Iterator[tuple[AppContext, str]]:
    """The app as `python app.py` launches it; yields (context, base URL) and shuts it down after."""
    ctx = create_context(settings)
    demo = build_app(ctx)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **launch_options(settings))
    try:
        yield ctx, f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
        ctx.close()
