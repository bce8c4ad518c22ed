"""Who a request comes from, for per-visitor rules (one scoring job each, private cache hits).

Without sign-in a server only knows the address: the one the nearest proxy appended to
X-Forwarded-For (Hugging Face Spaces puts a proxy in front of every app), else the connection's
peer. Kept in memory only, never stored or logged.
"""

from __future__ import annotations

from typing import Any, Mapping

FORWARDED_HEADER = "x-forwarded-for"
UNKNOWN_VISITOR = "unknown"


def visitor_key(headers: Mapping[str, str], client_host: str | None) -> str:
    """The last X-Forwarded-For hop (added by the proxy, not chosen by the client), else the peer address."""
    hops = [hop.strip() for hop in headers.get(FORWARDED_HEADER, "").split(",") if hop.strip()]
    return hops[-1] if hops else (client_host or UNKNOWN_VISITOR)


def visitor_of(request: Any) -> str:
    """The key of a gr.Request or a Starlette request."""
    client = getattr(request, "client", None)
    return visitor_key(getattr(request, "headers", None) or {}, getattr(client, "host", None))


def current_visitor() -> str | None:
    """The visitor of the event being handled, from Gradio's per-request context; None outside one."""
    from gradio.context import LocalContext

    request = LocalContext.request.get(None)
    return None if request is None else visitor_of(request)
