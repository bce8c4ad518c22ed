"""The MCP server, through the real `mcp` client package against the running app (APEX_MCP on).

An AI agent lists the tools (score, compare, rank_takes, arena_stats; nothing of the page's own events
and no arena voting, which stands for a person who listened), each described by its docstring with
its arguments, and calls "score" on a recording passed as a base64 data: URL (Gradio's SSRF guard
refuses loopback URLs, so a local test cannot hand it an http URL of its own): the numbers and the
verdicts are the command line's `score --format json` for the same file, run as its own process.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client

from apex_demo.config import Settings
from tests.support import REPO
from tests.support.app import running_app

CLIP = "loop_garzul.flac"  # 8.0 s stereo FLAC: one 30 s part
MCP_PATH = "gradio_api/mcp/"
TOOLS = {"score", "compare", "rank_takes", "arena_stats"}
LISTENER_ONLY = {"arena_vote", "arena_new_battle"}


@pytest.fixture(scope="module")
def app(tiny_mert_dir: Path, tiny_heads: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("mcp")
    settings = Settings(mert=str(tiny_mert_dir), head=str(tiny_heads["train"]), device="cpu", mcp=True,
                        cache_dir=tmp / "cache", data_dir=tmp / "data")
    with running_app(settings) as (ctx, url):
        ctx.loader.wait(120)
        yield url


def mcp_call(url: str, work: Any) -> Any:
    """Run `work(session)` in a fresh MCP client session on the app's streamable-HTTP endpoint."""

    async def run() -> Any:
        async with streamablehttp_client(url + MCP_PATH) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await work(session)

    return asyncio.run(run())


def data_url(path: Path) -> str:
    return "data:audio/flac;base64," + base64.b64encode(path.read_bytes()).decode()


def cli_record(path: Path, tiny_mert_dir: Path, head: Path, cache: Path) -> dict[str, Any]:
    """`python -m apex_demo score FILE --format json` as its own process."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "XDG_CACHE_HOME": str(cache)}
    env = {k: v for k, v in env.items() if not k.startswith("APEX_")}
    out = subprocess.run([sys.executable, "-m", "apex_demo", "score", str(path), "--format", "json", "--no-cache",
                          "--device", "cpu", "--mert", str(tiny_mert_dir), "--head", str(head)],
                         capture_output=True, text=True, check=True, env=env, cwd=REPO)
    return json.loads(out.stdout)[0]


def test_the_tools_an_agent_sees(app: str) -> None:
    tools = {tool.name: tool for tool in mcp_call(app, lambda s: s.list_tools()).tools}
    assert set(tools) == TOOLS  # no ui_* event, no arena voting
    assert not LISTENER_ONLY & set(tools)
    audio = tools["score"].inputSchema["properties"]["audio"]
    assert "data: URL" in audio["description"] and tools["score"].inputSchema["required"] == ["audio"]
    assert "weakest" in tools["score"].description and "caveat" in tools["score"].description
    assert "share a rank" in tools["rank_takes"].description
    assert tools["rank_takes"].inputSchema["properties"]["by"]["description"].startswith("what to rank by")
    assert "agree" in tools["arena_stats"].description


def test_the_api_page_lists_only_the_public_endpoints(app: str) -> None:
    named = httpx.get(app + "gradio_api/info", timeout=30).json()["named_endpoints"]
    assert set(named) == {"/" + name for name in TOOLS}


def test_score_through_mcp_gives_the_command_lines_numbers(app: str, audio_dir: Path, tiny_mert_dir: Path,
                                                            tiny_heads: dict[str, Path], tmp_path: Path) -> None:
    path = audio_dir / CLIP
    result = mcp_call(app, lambda s: s.call_tool("score", {"audio": data_url(path)}))
    assert not result.isError, result.content
    record = ast.literal_eval(result.content[0].text)  # Gradio's MCP server sends the output's str()
    want = cli_record(path, tiny_mert_dir, tiny_heads["train"], tmp_path / "cache")
    assert record["scores"] == want["scores"] and record["segments"] == want["segments"]
    assert record["report"] == want["report"]  # the same verdicts: weakest part, caveat, advice
    assert record["report"]["caveat"] and "weakest_part" in record["report"]


def test_mcp_is_off_unless_asked_for(tiny_mert_dir: Path, tmp_path: Path) -> None:
    from tests.support.fakes import FakeScorer

    with running_app(Settings(mert=str(tiny_mert_dir), data_dir=tmp_path / "data"), load=lambda s: FakeScorer()) \
            as (_, url):
        assert httpx.get(url + MCP_PATH, timeout=30).status_code == 404
