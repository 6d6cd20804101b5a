"""Casefinder as a tool for AI assistants: the MCP server, with the SDK's own client.

In-process on the tiny catalogue (fast), then as assistants reach it: over HTTP at /mcp of a
real `casefinder serve` with two workers, and over stdio from `casefinder mcp`."""

from __future__ import annotations

import asyncio
import os
import sys

import httpx
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from casefinder.config import Settings
from casefinder.engine import Casefinder
from casefinder.index.build import build_index
from casefinder.mcp_server import build_server
from fakes import FakeEmbedder, write_tiny_corpus
from servers import ServeProcess

TOOLS = {"search_cases", "get_case", "answer_question", "list_catalogues"}
ODENSE = "kl-samarbejde-2019-odense-kommune-samarbejde-mellem-akutteam-og-misbrugscenter"


@pytest.fixture(scope="module")
def tiny_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("mcp")
    settings = Settings(corpus_dir=write_tiny_corpus(root / "corpus"), index_dir=root / "index")
    embedder = FakeEmbedder()
    engine = Casefinder(settings, build_index(settings, embedder, progress=False), embedder)
    return build_server(lambda: engine)


def run(session):
    return asyncio.run(session())


def test_the_four_tools_have_danish_descriptions_and_typed_inputs(tiny_server):
    async def session():
        async with Client(tiny_server) as client:
            return (await client.list_tools()).tools

    tools = {t.name: t for t in run(session)}
    assert set(tools) == TOOLS
    search = tools["search_cases"]
    assert "kommunale" in search.description and search.input_schema["required"] == ["query"]
    assert search.input_schema["properties"]["k"]["maximum"] == 50
    assert all(t.output_schema for t in tools.values())


def test_a_search_answers_with_structured_cases_and_a_short_text(tiny_server):
    async def session():
        async with Client(tiny_server) as client:
            return await client.call_tool("search_cases", {"query": "droner til broer", "k": 2})

    result = run(session)
    assert not result.is_error
    first = result.structured_content["cases"][0]
    assert first["municipality"] == "Kolding Kommune" and first["url"].startswith("/documents/nye-samarbejder")
    assert "Kolding Kommune" in result.content[0].text


@pytest.mark.parametrize(
    "tool,arguments,message",
    [
        ("search_cases", {"query": "  "}, "Skriv et eller flere søgeord."),
        ("search_cases", {"query": "droner", "k": 0}, "k skal være mellem 1 og 50."),
        ("search_cases", {"query": "droner", "municipality": "Atlantis"}, "'Atlantis' findes ikke som kommune"),
        ("get_case", {"id": "findes-ikke"}, "Casen 'findes-ikke' findes ikke."),
        ("answer_question", {"question": ""}, "Skriv et eller flere søgeord."),
    ],
)
def test_bad_input_is_a_tool_error_in_danish_and_the_session_goes_on(tiny_server, tool, arguments, message):
    async def session():
        async with Client(tiny_server) as client:
            refused = await client.call_tool(tool, arguments)
            after = await client.call_tool("list_catalogues", {})
            return refused, after

    refused, after = run(session)
    assert refused.is_error and refused.content[0].text.startswith(message)
    assert not after.is_error and after.structured_content["catalogues"][0]["id"] == "nye-samarbejder"


async def _assistant_session(client: Client) -> dict:
    """What an assistant does: list the tools, search, ask, get a case, make a mistake."""
    tools = {t.name for t in (await client.list_tools()).tools}
    search = await client.call_tool("search_cases", {"query": "samarbejde om medicinudlevering"})
    answer = await client.call_tool("answer_question", {"question": "Hvilke kommuner deler it-drift?"})
    case = await client.call_tool("get_case", {"id": ODENSE})
    empty = await client.call_tool("search_cases", {"query": ""})
    catalogues = await client.call_tool("list_catalogues", {})
    return {"tools": tools, "search": search, "answer": answer, "case": case, "empty": empty, "catalogues": catalogues}


def _check_assistant_session(seen: dict) -> None:
    assert seen["tools"] == TOOLS
    assert seen["search"].structured_content["cases"][0]["id"] == ODENSE
    answer = seen["answer"].structured_content
    assert answer["grounded"] and "[1]" in answer["answer"] and answer["citations"]
    assert "Ballerup Kommune" in answer["answer"] and "Kilder:" in seen["answer"].content[0].text
    named = {m for c in answer["citations"] for m in [c["case"]["municipality"], *c["case"]["municipalities"]] if m}
    assert {"Ballerup Kommune", "Egedal Kommune", "Furesø Kommune"} & named
    assert seen["case"].structured_content["case"]["municipality"] == "Odense Kommune"
    assert seen["empty"].is_error and seen["empty"].content[0].text == "Skriv et eller flere søgeord."
    assert len(seen["catalogues"].structured_content["catalogues"]) == 5


@pytest.mark.corpus
def test_an_assistant_uses_the_tools_over_http_at_mcp_of_a_real_server_behind_the_key():
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    server = ServeProcess("--workers", "2", env={"CASEFINDER_API_KEY": "hemmelig"})
    try:
        url = server.url + "/mcp"
        refused = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"

        async def session():
            async with httpx2.AsyncClient(headers={"Authorization": "Bearer hemmelig"}, timeout=60) as http:
                async with Client(streamable_http_client(url, http_client=http)) as client:
                    return await _assistant_session(client)

        _check_assistant_session(run(session))
    finally:
        server.close()


@pytest.mark.corpus
def test_an_assistant_uses_the_tools_over_stdio_from_casefinder_mcp():
    command = StdioServerParameters(command=sys.executable, args=["-m", "casefinder.cli", "mcp"], env=dict(os.environ))

    async def session():
        async with Client(command, read_timeout_seconds=120) as client:
            return await _assistant_session(client)

    _check_assistant_session(run(session))
