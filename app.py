"""Start the APEX web app: `python app.py [--host H] [--port P] [--share]` (also the Spaces entry point)."""

from __future__ import annotations

import argparse
import atexit
import os
import signal
import sys
from types import FrameType

from apex_demo import tempfiles
from apex_demo.config import Settings
from apex_demo.errors import ApexError
from apex_demo.ui import build_app, create_context, launch_options

SPACES_HOST = "0.0.0.0"
LOCAL_HOST = "127.0.0.1"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Flags; the host defaults to all interfaces on Hugging Face Spaces (SPACE_ID set), else localhost."""
    parser = argparse.ArgumentParser(description="APEX demo web app")
    default_host = SPACES_HOST if os.environ.get("SPACE_ID") else LOCAL_HOST
    parser.add_argument("--host", default=default_host, help=f"interface to listen on (default {default_host})")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
                        help="port (default 7860, or GRADIO_SERVER_PORT)")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    return parser.parse_args(argv)


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (docker stop, a Space restart) exits like Ctrl-C: the atexit cleanups run."""
    sys.exit(128 + signum)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        settings = Settings.from_env()
    except ApexError as exc:  # a bad APEX_* variable: say which, no traceback
        sys.exit(f"error [{exc.code.value}]: {exc.message}")
    tempfiles.remove_stale()  # what a killed earlier run left behind
    atexit.register(tempfiles.remove_own)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    ctx = create_context(settings)
    atexit.register(ctx.close)
    demo = build_app(ctx)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, **launch_options(settings))


if __name__ == "__main__":
    main()
