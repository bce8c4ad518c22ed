"""HTTP clients for the app tier: a visitor with its own address, and a light voter over the plain API."""

from __future__ import annotations

import json
import secrets
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from tests.support.app import call_result

HTTP_TIMEOUT_S = 120.0
FILE_DATA = {"_type": "gradio.FileData"}
MAX_QUEUE_RETRIES = 50


class Visitor:
    """One visitor (its own address, as the Spaces proxy forwards it) over Gradio's plain HTTP API, and over
    the page's own protocol (any event, private ones too, joined by its index as the browser does); with
    `session`, its calls carry that Gradio session hash, as a browser tab's do (without: none, as a script's)."""

    def __init__(self, url: str, address: str, session: str | None = None) -> None:
        self.url = url
        self.session = session
        self.http = httpx.Client(base_url=url + "gradio_api/", timeout=HTTP_TIMEOUT_S,
                                 headers={"X-Forwarded-For": address})
        self.calls = httpx.Client(base_url=url + "gradio_api/call/", timeout=HTTP_TIMEOUT_S,
                                  headers={"X-Forwarded-For": address})

    def upload(self, path: Path) -> dict[str, Any]:
        with path.open("rb") as handle:
            reply = self.http.post("upload", files={"files": (path.name, handle)})
        reply.raise_for_status()
        return {"path": reply.json()[0], "orig_name": path.name, "meta": FILE_DATA}

    def submit(self, api_name: str, *data: object) -> httpx.Response:
        """POST the call: 200 with an event id when queued, 422 with the reason when refused."""
        body: dict[str, Any] = {"data": list(data)}
        if self.session is not None:
            body["session_hash"] = self.session
        return self.http.post(f"call/{api_name}", json=body)

    def result(self, api_name: str, event_id: str) -> list[Any]:
        return call_result(self.calls, api_name, event_id)

    def page_event(self, api_name: str, *data: object) -> dict[str, Any]:
        """Run a page event as the browser does (queue/join by the event's index, then the session's event
        stream): {"refused": the join's answer} when the join is refused, else the completion message."""
        deps = self.http.get(self.url + "config").json()["dependencies"]
        fn_index = next(d["id"] for d in deps if d.get("api_name") == api_name)
        session = secrets.token_hex(8)
        joined = self.http.post("queue/join", json={"data": list(data), "fn_index": fn_index, "session_hash": session,
                                                    "event_data": None, "trigger_id": None})
        if joined.status_code != 200:
            return {"refused": joined}
        with self.http.stream("GET", "queue/data", params={"session_hash": session}) as stream:
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    message = json.loads(line[len("data: "):])
                    if message.get("msg") == "process_completed":
                        return message
        raise AssertionError(f"{api_name}: no result")

    def call(self, api_name: str, *data: object) -> list[Any]:
        posted = self.submit(api_name, *data)
        assert posted.status_code == 200, posted.text
        return self.result(api_name, posted.json()["event_id"])


class RestClient:
    """One voter over Gradio's plain HTTP API (POST /gradio_api/call/<name>, then read the result
    event), with its own session hash. Lighter than gradio_client, so 50 of them fit on 2 cores."""

    def __init__(self, url: str, stats: Counter) -> None:
        self.http = httpx.Client(base_url=url + "gradio_api/call/", timeout=HTTP_TIMEOUT_S)
        self.session_hash = secrets.token_hex(8)
        self.stats = stats

    def predict(self, api_name: str, *data: object) -> list[object]:
        for _ in range(MAX_QUEUE_RETRIES):
            posted = self.http.post(api_name, json={"data": list(data), "session_hash": self.session_hash})
            if posted.status_code == 503:          # "queue full": nothing ran, so retrying is safe
                self.stats["queue_full_retries"] += 1
                time.sleep(0.05)
                continue
            posted.raise_for_status()
            return self._result(api_name, posted.json()["event_id"])
        raise AssertionError("queue stayed full")

    def _result(self, api_name: str, event_id: str) -> list[object]:
        return call_result(self.http, api_name, event_id)

    def close(self) -> None:
        self.http.close()


def new_battles(url: str, forwarded_for: list[str]) -> list[str]:
    """One new arena battle per X-Forwarded-For value, each from a new session: "served", "refused" (the rate
    limit), or the error."""
    outcomes = []
    for value in forwarded_for:
        client = RestClient(url, Counter())
        client.http.headers["X-Forwarded-For"] = value
        try:
            client.predict("arena_new_battle")
            outcomes.append("served")
        except AssertionError as exc:
            outcomes.append("refused" if "Too many battles" in str(exc) else str(exc))
        client.close()
    return outcomes
