"""Uploads kept under a private, random name.

Gradio stores each upload as `<upload folder>/<hash of its content>/<file name>` and serves that path
to anyone for an hour. The hash is seeded per installation, but anyone can have Gradio compute it:
uploading the same bytes under another name answers with the folder. So whoever holds a song could
fetch `<that folder>/<the name a visitor would give it>` and learn whether somebody uploaded it.
This middleware sits on Gradio's upload route: right after Gradio has stored the files, each one is
moved into a folder named by 128 random bits, and the answer (the paths the page and clients use from
then on) names the new place. Gradio's hourly cleanup still finds them (its set of uploaded files is
updated too).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any, Awaitable, Callable, MutableMapping

from starlette.concurrency import run_in_threadpool

LOG = logging.getLogger(__name__)

UPLOAD_ROUTE = "/gradio_api/upload"    # Gradio 6.31's upload route (API_PREFIX + "/upload")
RANDOM_NAME_BYTES = 16

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def private_place(stored: str, upload_dir: str, known: set[str]) -> str:
    """Move one stored upload into a fresh random folder of the upload folder; its new path. The content-
    named folder is removed once empty; `known` (Gradio's set of uploaded files) follows the move."""
    source = Path(stored)
    if not source.resolve().is_relative_to(Path(upload_dir).resolve()):
        return stored                                  # not Gradio's upload: leave it alone
    folder = Path(upload_dir) / secrets.token_hex(RANDOM_NAME_BYTES)
    folder.mkdir()
    target = folder / source.name
    os.rename(source, target)
    try:
        source.parent.rmdir()
    except OSError:
        pass                                           # another upload of the same bytes sits there
    known.discard(stored)
    known.add(str(target))
    return str(target)


class PrivateUploads:
    """ASGI middleware: Gradio's upload answers name each file under a random folder (see module doc)."""

    def __init__(self, app: Callable[[Message, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].endswith(UPLOAD_ROUTE):
            await self.app(scope, receive, send)
            return
        start: Message = {}
        body: list[bytes] = []

        async def hold(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                body.append(message.get("body", b""))

        await self.app(scope, receive, hold)
        content = b"".join(body)
        if start.get("status") == 200:
            content, start["status"] = await run_in_threadpool(self._moved, scope["app"], content)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        start["headers"] = [*headers, (b"content-length", str(len(content)).encode())]
        await send(start)
        await send({"type": "http.response.body", "body": content})

    @staticmethod
    def _moved(app: Any, content: bytes) -> tuple[bytes, int]:
        """The upload answer with every path moved; an upload that cannot be moved is refused (500), so
        no file is ever handed out under its content-named path."""
        try:
            known = app.get_blocks().upload_file_set
            paths = [private_place(p, app.uploaded_file_dir, known) for p in json.loads(content)]
        except (OSError, ValueError, TypeError) as exc:
            LOG.error("could not move an upload to a private name: %s", exc)
            return b'{"detail": "The upload could not be stored; please upload the file again."}', 500
        return json.dumps(paths).encode(), 200
