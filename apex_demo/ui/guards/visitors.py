"""Who a request comes from, for per-visitor rules (one scoring job each, private cache hits).

Without sign-in a server only knows the address. Behind the Hugging Face Spaces proxy
(`Settings.behind_proxy`, on by itself when SPACE_ID is set) that is X-Forwarded-For's first hop,
which the proxy sets; anywhere else a client could write any value there, so the connection's peer
address is used. Kept in memory only here; the arena stores only salted hashes of it.
"""

from __future__ import annotations

from typing import Any, Mapping

FORWARDED_HEADER = "x-forwarded-for"
UNKNOWN_VISITOR = "unknown"


def client_address(headers: Mapping[str, str], client_host: str | None, behind_proxy: bool) -> str | None:
    """X-Forwarded-For's first hop behind the Spaces proxy, else the peer address (None if unknown)."""
    if behind_proxy:
        hops = [hop.strip() for hop in (headers.get(FORWARDED_HEADER) or "").split(",") if hop.strip()]
        if hops:
            return hops[0]
    return client_host


def visitor_of(request: Any, behind_proxy: bool) -> str:
    """The key of a gr.Request or a Starlette request."""
    client = getattr(request, "client", None)
    address = client_address(getattr(request, "headers", None) or {}, getattr(client, "host", None), behind_proxy)
    return address or UNKNOWN_VISITOR


def current_visitor(behind_proxy: bool) -> str | None:
    """The visitor of the event being handled, from Gradio's per-request context; None outside one."""
    from gradio.context import LocalContext

    request = LocalContext.request.get(None)
    return None if request is None else visitor_of(request, behind_proxy)
