"""Who a request comes from, for per-visitor rules (one scoring job each, private cache hits, rate limits).

Without sign-in a server only knows the address. Behind a reverse proxy (the Hugging Face Spaces
proxy: `Settings.behind_proxy`, on by itself when SPACE_ID is set) the connection comes from the proxy,
and each trusted proxy appends the address it saw to X-Forwarded-For. Everything before those hops
was written by the client and may be anything, so the client address is the hop the outermost
trusted proxy appended: with `Settings.proxy_hops` trusted proxies, the N-th hop from the end (the
last one for the single Spaces proxy). Not behind a proxy, the connection's peer address is used.
Kept in memory only here; the arena stores only salted hashes of it.
"""

from __future__ import annotations

from typing import Any, Mapping

FORWARDED_HEADER = "x-forwarded-for"
UNKNOWN_VISITOR = "unknown"


def forwarded_hops(headers: Mapping[str, str]) -> list[str]:
    """Every X-Forwarded-For hop in order, across repeated header lines (a proxy may add its own line)."""
    getlist = getattr(headers, "getlist", None)
    values = getlist(FORWARDED_HEADER) if callable(getlist) else [headers.get(FORWARDED_HEADER) or ""]
    return [hop.strip() for value in values for hop in str(value).split(",") if hop.strip()]


def client_address(headers: Mapping[str, str], client_host: str | None, trusted_hops: int) -> str | None:
    """The hop the outermost of `trusted_hops` proxies appended (0: the peer address; None if unknown)."""
    if trusted_hops > 0:
        hops = forwarded_hops(headers)
        if hops:
            return hops[max(0, len(hops) - trusted_hops)]
    return client_host


def visitor_of(request: Any, trusted_hops: int) -> str:
    """The key of a gr.Request or a Starlette request."""
    client = getattr(request, "client", None)
    address = client_address(getattr(request, "headers", None) or {}, getattr(client, "host", None), trusted_hops)
    return address or UNKNOWN_VISITOR


def current_visitor(trusted_hops: int) -> str | None:
    """The visitor of the event being handled, from Gradio's per-request context; None outside one."""
    from gradio.context import LocalContext

    request = LocalContext.request.get(None)
    return None if request is None else visitor_of(request, trusted_hops)
