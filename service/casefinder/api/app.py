"""FastAPI application: the contract of ../shared/API.md plus the page and the viewer."""

from __future__ import annotations

import json
import logging
import mimetypes
import shutil
import signal
import tempfile
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import fastapi_offline
from fastapi import Depends, FastAPI, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import BeforeValidator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from .. import schemas
from ..config import Settings, get_settings
from ..corpus.library import LastCatalogue, UnknownCatalogue, adding, check_field, remove_catalogue
from ..corpus.parse import CorpusError
from ..engine import CASE_ID, Casefinder, Problem, Refused
from ..index.build import BuildStopped, build_index
from ..index.embedders import EmbedderError
from ..index.manifest import IndexUnavailable
from ..live import LiveEngine
from ..mcp_server import build_server
from . import openai_compat
from .page import page_context
from .security import (
    BodyLimit,
    add_security_headers,
    check_key,
    content_security_policy,
    errors,
    require_admin,
    require_api_key,
)
from .streams import AnswerStream
from .viewer import render_document

log = logging.getLogger("casefinder.access")
HERE = Path(__file__).parent
SWAGGER_ASSETS = Path(fastapi_offline.__file__).parent / "static"


# The one place where the core's refusals become HTTP statuses.
HTTP_STATUS = {
    Problem.INVALID: 400,
    Problem.TOO_LARGE: 413,
    Problem.UNPROCESSABLE: 422,
    Problem.NOT_FOUND: 404,
    Problem.CONFLICT: 409,
    Problem.UNAUTHORIZED: 401,
    Problem.FORBIDDEN: 403,
    Problem.UNAVAILABLE: 503,
}


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message}})


_VALIDATION_MESSAGES = {
    "json_invalid": "Forespørgslens indhold er ikke gyldig JSON.",
    "missing": "Feltet '{field}' mangler.",
    "int_parsing": "Feltet '{field}' skal være et helt tal.",
    "int_type": "Feltet '{field}' skal være et helt tal.",
    "string_type": "Feltet '{field}' skal være tekst.",
    "list_type": "Feltet '{field}' skal være en liste.",
    "model_attributes_type": "Forespørgslens indhold skal være et JSON-objekt.",
    "dict_type": "Feltet '{field}' skal være et JSON-objekt.",
    "extra_forbidden": "Ukendt felt '{field}'.",
    "bool_type": "Feltet '{field}' skal være true eller false.",
    "bool_parsing": "Feltet '{field}' skal være true eller false.",
    "too_short": "Feltet '{field}' må ikke være tomt.",
}


SEARCH_PARAMETERS = {"q", "k", "per_case", *schemas.Filters.model_fields}
SINGLE_VALUED = ("q", "k", "per_case")  # the filters are lists: given once per value
# A case's or catalogue's id, for the OpenAPI schema (the engine checks it with its own message).
ID_PATH = PathParam(json_schema_extra={"pattern": CASE_ID.pattern})
QueryText = Annotated[str, Query(json_schema_extra=schemas.QUERY_TEXT)]
KQuery = Annotated[int, Query(json_schema_extra=schemas.K_RANGE)]
FilterQuery = Annotated[list[str], Query(json_schema_extra=schemas.FILTER_VALUES)]


def _no_value_is_none(value: object) -> object:
    """A form field left empty (or sent as JSON's null) is no value: a form cannot send None."""
    return None if isinstance(value, str) and value.strip().lower() in ("", "null") else value


def _validation_message(exc: RequestValidationError) -> str:
    first = exc.errors()[0] if exc.errors() else {}
    field = ".".join(str(p) for p in first.get("loc", ())[1:]) or "body"
    template = _VALIDATION_MESSAGES.get(first.get("type", ""), "Ugyldig forespørgsel: '{field}' har en forkert værdi.")
    return template.format(field=field)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "casefinder_requests_total", "HTTP requests", ["path", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "casefinder_request_seconds",
            "Request latency",
            ["path"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.chunks = Gauge("casefinder_index_chunks", "Chunks in the index", registry=self.registry)
        self.cases = Gauge("casefinder_index_cases", "Cases in the index", registry=self.registry)


def get_live(request: Request) -> LiveEngine:
    return request.app.state.live


def get_engine(request: Request) -> Casefinder:
    """The engine for this request: it keeps it to the end, whatever is swapped in meanwhile."""
    return request.app.state.live.current()


Live = Annotated[LiveEngine, Depends(get_live)]
Engine = Annotated[Casefinder, Depends(get_engine)]


def _stop_builds_on_signals(live: LiveEngine) -> None:
    """SIGTERM and SIGINT also stop a build between two batches, then go on to uvicorn's own
    handling (which closes the server); only the main thread can set handlers."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)

        def handler(signum, frame, previous=previous):
            live.stop()
            if callable(previous):
                previous(signum, frame)

        signal.signal(sig, handler)


def create_app(settings: Settings | None = None, engine: Casefinder | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        live = app.state.live
        live.start()  # in the background: /healthz answers at once
        _stop_builds_on_signals(live)
        async with assistant.session_manager.run():
            yield
        live.stop()

    app = FastAPI(
        title="Casefinder",
        description="Semantisk søgning og svar i KL's kataloger over kommunale cases.",
        version="0.1.0",
        lifespan=lifespan,
        redirect_slashes=False,  # a redirect would be built from the client's Host header
        docs_url=None,  # served below from the package's own Swagger UI assets: no CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.live = LiveEngine(settings, engine)
    assistant = build_server(lambda: app.state.live.current())
    app.state.metrics = Metrics()
    templates = Jinja2Templates(directory=HERE / "templates")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.mount("/docs-assets", StaticFiles(directory=SWAGGER_ASSETS), name="docs-assets")
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        uploads=("/api/catalogues",),
        max_upload_bytes=settings.max_upload_bytes,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"], allow_headers=["*"]
        )

    @app.middleware("http")
    async def observe(request: Request, call_next):
        """Every request, failed ones included: counted, timed, logged, given security headers."""
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:
            logging.getLogger("casefinder").exception("uventet fejl")
            response = error_response(500, "internal_error", "Der skete en uventet fejl. Prøv igen om lidt.")
        add_security_headers(response.headers)
        elapsed = time.perf_counter() - started
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        app.state.metrics.requests.labels(path, str(response.status_code)).inc()
        app.state.metrics.latency.labels(path).observe(elapsed)
        log.info(
            json.dumps(
                {
                    "method": request.method,
                    "path": path,
                    "status": response.status_code,
                    "ms": round(elapsed * 1000, 1),
                    "hits": getattr(request.state, "hits", None),
                }
            )
        )
        return response

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused):
        status = HTTP_STATUS[exc.problem]
        response = error_response(status, exc.code, exc.message)
        if status == 503:
            response.headers["Retry-After"] = "2"
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        return error_response(422, "invalid_request", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        messages = {
            400: "Forespørgslens formulardata kan ikke læses.",
            404: "Siden findes ikke.",
            405: "Metoden er ikke tilladt her.",
        }  # 400: Starlette's multipart parser refused the body
        codes = {400: "invalid_form", 404: "not_found", 405: "method_not_allowed"}
        response = error_response(
            exc.status_code, codes.get(exc.status_code, "http_error"), messages.get(exc.status_code, str(exc.detail))
        )
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not only those of the first route that matched it
            allowed = {
                m
                for route in app.router.routes
                if route.matches(request.scope)[0] != Match.NONE
                for m in getattr(route, "methods", None) or ()
            }
            response.headers["Allow"] = ", ".join(sorted(allowed - {"HEAD"})) or response.headers.get("Allow", "")
        return response

    # ------------------------------------------------------------------ API

    @app.get(
        "/api/search",
        summary="Søg i katalogerne (GET)",
        response_model=schemas.SearchResponse,
        tags=["søgning"],
        responses=errors(400, 413, 422, 503),
    )
    def search_get(
        request: Request,
        engine: Engine,
        q: QueryText,
        k: KQuery = 10,
        per_case: bool = True,
        municipality: FilterQuery = [],
        catalogue: FilterQuery = [],
        area: FilterQuery = [],
        kind: FilterQuery = [],
    ):
        unknown = sorted(set(request.query_params) - SEARCH_PARAMETERS)
        if unknown:  # a misspelt filter is an error, not an unfiltered search (as in the POST body)
            return error_response(422, "invalid_request", f"Ukendt parameter '{unknown[0]}'.")
        repeated = [name for name in SINGLE_VALUED if len(request.query_params.getlist(name)) > 1]
        if repeated:  # not silently the last value
            return error_response(422, "invalid_request", f"Parameteren '{repeated[0]}' er angivet flere gange.")
        filters = schemas.Filters(municipality=municipality, catalogue=catalogue, area=area, kind=kind)
        result = engine.search(q, k, filters, per_case)
        request.state.hits = len(result.hits)
        return result

    @app.post(
        "/api/search",
        summary="Søg i katalogerne (POST, med filtre)",
        response_model=schemas.SearchResponse,
        tags=["søgning"],
        responses=errors(400, 413, 422, 503),
    )
    def search_post(request: Request, body: schemas.SearchRequest, engine: Engine):
        result = engine.search(body.q, body.k, body.filters, body.per_case)
        request.state.hits = len(result.hits)
        return result

    @app.post(
        "/api/ask",
        summary="Kort svar med kildehenvisninger",
        response_model=schemas.AskResponse,
        tags=["svar"],
        dependencies=[Depends(require_api_key)],
        responses={200: {"content": {"text/event-stream": {}}}, **errors(400, 401, 413, 422, 503)},
    )
    def ask(request: Request, body: schemas.AskRequest, engine: Engine):
        if body.stream:
            events = engine.ask_stream(body.question, body.k, body.filters)
            return AnswerStream(
                (f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n" for name, data in events), events
            )
        answer = engine.ask(body.question, body.k, body.filters)
        request.state.hits = len(answer.citations)
        return answer

    @app.post(
        "/v1/chat/completions",
        summary="Svar i OpenAI's chatformat",
        tags=["svar"],
        dependencies=[Depends(require_api_key)],
        responses={
            200: {"content": {"application/json": {}, "text/event-stream": {}}},
            **errors(400, 401, 413, 422, 503),
        },
    )
    def chat_completions(body: schemas.ChatRequest, engine: Engine):
        """OpenAI-compatible: answers the last user message (model name "casefinder")."""
        return openai_compat.complete(engine, body)

    @app.get(
        "/api/cases/{case_id}",
        summary="Én case: tekst, kilde og lignende cases",
        response_model=schemas.CaseDetail,
        tags=["cases"],
        responses=errors(400, 404, 503),
    )
    def case_detail(engine: Engine, case_id: Annotated[str, ID_PATH]):
        return engine.case_detail(case_id)

    @app.get(
        "/api/documents",
        summary="Katalogerne i biblioteket",
        response_model=list[schemas.DocumentInfo],
        tags=["kataloger"],
        responses=errors(503),
    )
    def documents(engine: Engine):
        return engine.documents()

    @app.get("/healthz", summary="Driftsstatus: indeks, generation og igangværende bygning", tags=["drift"])
    async def healthz(live: Live):  # on the event loop: answers while every worker thread is busy
        return live.health()

    @app.get(
        "/metrics",
        summary="Prometheus-tællere (administration, når en nøgle er sat)",
        tags=["drift"],
        response_class=PlainTextResponse,
        dependencies=[Depends(require_api_key)],
        responses=errors(401),
    )
    def metrics(live: Live):
        """Prometheus counters by route and status (no query text); behind the key when one is set."""
        health = live.health()
        app.state.metrics.chunks.set(health["chunks"] or 0)
        app.state.metrics.cases.set(health["cases"] or 0)
        return Response(generate_latest(app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def publish_library(live: LiveEngine) -> None:
        """Build and publish a generation for corpus/ as it is now, and serve it in this worker at
        once (the others within a second). Runs in a worker thread: searches go on meanwhile."""
        try:
            build_index(settings, live.embedder(), progress=False, stop=live.stopping)
        except BuildStopped as exc:
            raise Refused(
                "stopping", "Tjenesten lukker ned; ændringen gøres færdig ved næste start.", Problem.UNAVAILABLE
            ) from exc
        live.refresh()

    @app.post(
        "/api/index",
        summary="Byg indekset om (administration)",
        tags=["drift"],
        dependencies=[Depends(require_admin)],
        responses=errors(401, 403, 413, 422, 503),
    )
    def reindex(live: Live):
        """Rebuild the index from corpus/ (embeds only what changed) and swap it in; on a corpus
        that cannot be read the running index stays and the reason is the answer."""
        try:
            publish_library(live)
        except (CorpusError, IndexUnavailable, EmbedderError) as exc:
            raise Refused("invalid_corpus", f"Indekset blev ikke bygget om: {exc}", Problem.UNPROCESSABLE) from exc
        return live.health()

    @app.post(
        "/api/catalogues",
        summary="Tilføj et katalog (administration)",
        tags=["drift"],
        dependencies=[Depends(require_admin)],
        status_code=201,
        responses=errors(400, 401, 403, 413, 422, 503),
    )
    def add_catalogue_route(
        live: Live,
        file: UploadFile,
        id: Annotated[str | None, Form()] = None,
        title: Annotated[str | None, Form()] = None,
        publisher: Annotated[str | None, Form()] = None,
        year: Annotated[int | None, BeforeValidator(_no_value_is_none), Form()] = None,
        source: Annotated[str | None, Form()] = None,
    ):
        """Add a catalogue (.txt, .md, .pdf, .docx, .html) to corpus/ and index only what is new."""
        try:
            check_field("filnavnet", file.filename)
        except CorpusError as exc:
            raise Refused("invalid_catalogue", f"Kataloget blev ikke tilføjet: {exc}", Problem.UNPROCESSABLE) from exc
        with tempfile.TemporaryDirectory() as staging:
            path = Path(staging) / (Path(file.filename or "").name or "katalog")
            with open(path, "wb") as out:
                shutil.copyfileobj(file.file, out)
            try:
                with adding(settings.corpus_dir, path, id, title, publisher, year, source) as doc_id:
                    publish_library(live)
            except (CorpusError, IndexUnavailable, EmbedderError) as exc:
                raise Refused(
                    "invalid_catalogue", f"Kataloget blev ikke tilføjet: {exc}", Problem.UNPROCESSABLE
                ) from exc
        return {"id": doc_id, **live.health()}

    @app.delete(
        "/api/catalogues/{doc_id}",
        summary="Fjern et katalog (administration)",
        tags=["drift"],
        dependencies=[Depends(require_admin)],
        responses=errors(400, 401, 403, 404, 409, 503),
    )
    def remove_catalogue_route(live: Live, doc_id: Annotated[str, ID_PATH]):
        """Take a catalogue out of corpus/, its manifest and the index. The corpus folder decides
        what exists (not this worker's engine, which may not have swapped in an add yet)."""
        Casefinder.check_id_pattern(doc_id, "katalog")
        try:
            remove_catalogue(settings.corpus_dir, doc_id)
        except UnknownCatalogue as exc:
            raise Refused("not_found", f"Kataloget '{doc_id}' findes ikke.", Problem.NOT_FOUND) from exc
        except LastCatalogue as exc:
            raise Refused("last_catalogue", str(exc), Problem.CONFLICT) from exc
        except CorpusError as exc:
            raise Refused("invalid_catalogue", str(exc), Problem.UNPROCESSABLE) from exc
        publish_library(live)
        return live.health()

    # ------------------------------------------------------------------ pages

    @app.get("/documents/{doc_id}/original", include_in_schema=False)
    def document_original(doc_id: str, engine: Engine):
        doc = engine.check_document(doc_id)
        if not doc.original or not doc.original.is_file():
            raise Refused("not_found", f"Kataloget '{doc_id}' har ingen original fil.", Problem.NOT_FOUND)
        media = mimetypes.guess_type(doc.original.name)[0] or "application/octet-stream"
        return FileResponse(
            doc.original, media_type=media, filename=doc.original.name, content_disposition_type="inline"
        )

    @app.get("/documents/{doc_id}", response_class=HTMLResponse, include_in_schema=False)
    def document_page(request: Request, doc_id: str, engine: Engine, start: int | None = None, end: int | None = None):
        doc = engine.check_document(doc_id)
        if start is None or end is None:
            if start is not None or end is not None:
                raise Refused("invalid_span", f"start og end skal angive et stykke af kataloget (0–{len(doc.raw)}).")
        elif not 0 <= start < end <= len(doc.raw):
            raise Refused("invalid_span", f"start og end skal angive et stykke af kataloget (0–{len(doc.raw)}).")
        cases = [c for c in engine.corpus.cases if c.catalogue == doc.id]
        body = render_document(doc, cases, start, end)
        return templates.TemplateResponse(
            request, "document.html", {"doc": doc, "body": body, "marked": start is not None}
        )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def search_page(request: Request, engine: Engine):
        context = page_context(engine, request.query_params)
        name = "results.html" if request.headers.get("x-partial") else "index.html"
        return templates.TemplateResponse(request, name, context)

    @app.get("/docs", include_in_schema=False)
    def docs():
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="Casefinder – API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon.png",
        )
        page.headers["Content-Security-Policy"] = content_security_policy(bytes(page.body).decode())
        return page

    @app.get("/robots.txt", response_class=PlainTextResponse, include_in_schema=False)
    def robots():
        return "User-agent: *\nDisallow: /\n"

    app.router.routes.append(Route("/mcp", _McpEndpoint(assistant, settings), include_in_schema=False))
    return app


class _McpEndpoint:
    """The MCP server's Streamable HTTP endpoint: stateless (any worker answers any request),
    plain JSON answers, and behind the API key when one is set, as /api/ask is. DNS-rebinding
    protection (a browser page on another host name reaching a local server) holds while the
    server listens on loopback; the public host name, where one is configured, is allowed.
    (A class, so that Starlette routes every method to it as an ASGI app.)"""

    def __init__(self, assistant: MCPServer, settings: Settings):
        allowed = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
        if settings.public_base_url:
            allowed.append(urlsplit(settings.public_base_url).netloc)
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=settings.host in ("127.0.0.1", "localhost", "::1"),
            allowed_hosts=allowed,
            allowed_origins=[f"{scheme}://{host}" for host in allowed for scheme in ("http", "https")],
        )
        http = assistant.streamable_http_app(
            streamable_http_path="/mcp", stateless_http=True, json_response=True, transport_security=security
        )
        self.mcp = next(r.app for r in http.routes if isinstance(r, Route) and r.path == "/mcp")
        self.key = settings.api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.key and scope["type"] == "http":
            try:
                check_key(Request(scope), self.key)
            except Refused as exc:
                response = error_response(HTTP_STATUS[exc.problem], exc.code, exc.message)
                response.headers["WWW-Authenticate"] = "Bearer"
                add_security_headers(response.headers)
                return await response(scope, receive, send)
        await self.mcp(scope, receive, send)
