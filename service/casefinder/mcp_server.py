"""Casefinder as a tool for AI assistants: an MCP server (the official ``mcp`` SDK) on the same
engine as the HTTP API.

Four tools, described in Danish so that an assistant can choose by them: ``search_cases``,
``get_case``, ``answer_question`` and ``list_catalogues``. Each answers with structured content
(JSON, with its schema) and a short text an assistant can quote. Input the engine refuses
(an empty query, k out of range, an unknown case or filter value) is a tool error with the
engine's Danish message; the session stays usable.

Served at ``/mcp`` of the HTTP app (Streamable HTTP, stateless, so any worker can answer any
request; behind the API key when one is set, as ``/api/ask`` is) and over stdio by
``casefinder mcp``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from . import schemas
from .engine import Casefinder, Refused
from .search.retriever import facet_values

INSTRUCTIONS = (
    "Casefinder søger i KL's kataloger over kommunale samarbejds- og effektiviseringscases. "
    "Brug search_cases til at finde cases om et emne, answer_question til et kort svar med "
    "kildehenvisninger, get_case til hele teksten af én case og list_catalogues til at se katalogerne. "
    "Henvis altid til casens kilde-URL, når du bruger et svar."
)


class FoundCase(BaseModel):
    id: str
    title: str
    municipality: str | None = None
    municipalities: list[str] = []
    catalogue: str
    catalogue_title: str | None = None
    confidence: float = Field(description="0-1: hvor sikker Casefinder er på, at casen svarer på søgningen")
    passage: str = Field(description="det afsnit af casen, der bedst svarer på søgningen")
    page: int | None = None
    url: str = Field(description="kilden: kataloget åbnet ved afsnittet")


class SearchResult(BaseModel):
    query: str
    no_match: bool = Field(description="sand, når katalogerne efter Casefinders vurdering ikke dækker søgningen")
    cases: list[FoundCase]


class Catalogues(BaseModel):
    catalogues: list[schemas.DocumentInfo]


def _refusals_as_tool_errors(tool: Callable[..., CallToolResult]) -> Callable[..., CallToolResult]:
    """The engine's refusals reach the assistant as tool errors with their Danish message alone
    (a raised ToolError would come prefixed "Error executing tool …")."""

    @functools.wraps(tool)
    def answering(*args: Any, **kwargs: Any) -> CallToolResult:
        try:
            return tool(*args, **kwargs)
        except Refused as exc:
            return CallToolResult(content=[TextContent(type="text", text=exc.message)], is_error=True)

    return answering


def _result(text: str, data: BaseModel) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=data.model_dump(mode="json")
    )


_FILTER_NAMES = {"municipality": "kommune", "catalogue": "katalog-id", "area": "område"}


def _known_values(engine: Casefinder, name: str, value: str | None) -> list[str]:
    """A filter value the catalogues have, as a one-value list (none: no filter); an unknown one
    is an error, not an empty result an assistant would read as "no such cases"."""
    if value is None:
        return []
    known = {v for case in engine.corpus.cases for v in facet_values(case, name)}
    if value not in known:
        close = sorted(v for v in known if value.lower() in v.lower())[:5]
        hint = f" Mente du: {', '.join(close)}?" if close else ""
        raise Refused("unknown_filter", f"'{value}' findes ikke som {_FILTER_NAMES[name]} i katalogerne.{hint}")
    return [value]


def build_server(current: Callable[[], Casefinder]) -> MCPServer:
    """The MCP server; ``current`` gives the engine for one call (the live one in a server)."""
    server: MCPServer = MCPServer(name="casefinder", title="Casefinder", instructions=INSTRUCTIONS)

    @server.tool(
        name="search_cases",
        title="Søg i kommunale cases",
        description=(
            "Søg i KL's kataloger over kommunale samarbejds- og effektiviseringscases (dansk eller engelsk "
            "forespørgsel). Giver de bedste cases med kommune, katalog, det afsnit der svarer, side og "
            "kilde-URL, og no_match når katalogerne ikke dækker emnet. Filtrér evt. på kommune, katalog-id "
            "eller område."
        ),
    )
    @_refusals_as_tool_errors
    def search_cases(
        query: Annotated[str, Field(description="hvad der søges efter, fx 'fælles it-drift'")],
        k: Annotated[int, Field(description="antal cases (1-50)", json_schema_extra=schemas.K_RANGE)] = 5,
        municipality: Annotated[str | None, Field(description="kun cases fra denne kommune")] = None,
        catalogue: Annotated[str | None, Field(description="kun cases fra dette katalog (id)")] = None,
        area: Annotated[str | None, Field(description="kun cases fra dette område")] = None,
    ) -> Annotated[CallToolResult, SearchResult]:
        engine = current()
        filters = schemas.Filters(
            municipality=_known_values(engine, "municipality", municipality),
            catalogue=_known_values(engine, "catalogue", catalogue),
            area=_known_values(engine, "area", area),
        )
        found = engine.search(query, k, filters)
        cases = [
            FoundCase(
                **hit.case.model_dump(include={"id", "title", "municipality", "municipalities", "catalogue"}),
                catalogue_title=hit.case.catalogue_title,
                confidence=hit.confidence,
                passage=hit.passage.text,
                page=hit.source.page,
                url=hit.source.url,  # absolute where CASEFINDER_PUBLIC_BASE_URL is set
            )
            for hit in found.hits
        ]
        result = SearchResult(query=found.query, no_match=found.no_match, cases=cases)
        lines = [
            f"{n}. {c.title} ({c.municipality or c.catalogue}; sikkerhed {c.confidence:.2f}) {c.url}"
            for n, c in enumerate(cases, 1)
        ]
        verdict = "Katalogerne ser ikke ud til at dække dette. " if found.no_match else ""
        return _result(verdict + ("\n".join(lines) or "Ingen cases fundet."), result)

    @server.tool(
        name="get_case",
        title="Hent én case",
        description="Hele teksten af én case med kommune, katalog, kontaktpersoner, beløb, kilde og lignende cases.",
    )
    @_refusals_as_tool_errors
    def get_case(
        id: Annotated[str, Field(description="casens id, som search_cases giver det")],
    ) -> Annotated[CallToolResult, schemas.CaseDetail]:
        engine = current()
        detail = engine.case_detail(id)
        text = f"{detail.case.title} ({detail.case.municipality or detail.case.catalogue})\n\n{detail.text}"
        return _result(text, detail)

    @server.tool(
        name="answer_question",
        title="Besvar et spørgsmål",
        description=(
            "Et kort dansk svar med nummererede kildehenvisninger [n] fra katalogerne. grounded er falsk, "
            "når katalogerne ikke besvarer spørgsmålet; så siger svaret det og henviser ikke."
        ),
    )
    @_refusals_as_tool_errors
    def answer_question(
        question: Annotated[str, Field(description="spørgsmålet, fx 'Hvilke kommuner deler it-drift?'")],
    ) -> Annotated[CallToolResult, schemas.AskResponse]:
        engine = current()
        answer = engine.ask(question)
        sources = "\n".join(f"[{c.n}] {c.case.title}: {c.source.url}" for c in answer.citations)
        return _result(answer.answer + (f"\n\nKilder:\n{sources}" if sources else ""), answer)

    @server.tool(
        name="list_catalogues",
        title="Katalogerne",
        description="Katalogerne i Casefinders bibliotek: id, titel, udgiver, år og antal cases.",
    )
    def list_catalogues() -> Annotated[CallToolResult, Catalogues]:
        documents = current().documents()
        text = "\n".join(f"{d.id}: {d.title} ({d.year or 'uden år'}, {d.cases} cases)" for d in documents)
        return _result(text, Catalogues(catalogues=documents))

    return server
