"""What every response carries and what every request may weigh: security headers (a strict
Content-Security-Policy), a cap on the request body, and the API-key checks."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets

from fastapi import Request

from ..engine import Problem, Refused
from ..schemas import ErrorResponse

# No inline script anywhere: pages load theirs from /static; /docs allows its one start-up
# script by hash. Inline styles are allowed (Swagger UI sets them), plugins and framing not.
_CSP = (
    "default-src 'self'; script-src 'self'{scripts}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def content_security_policy(html: str = "") -> str:
    """The policy, allowing exactly the inline scripts of ``html`` by their SHA-256."""
    hashes = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in re.findall(r"<script>(.*?)</script>", html, re.S)
    )
    return _CSP.format(scripts=hashes)


def add_security_headers(headers) -> None:
    for name, value in HEADERS.items():
        headers.setdefault(name, value)
    headers.setdefault("Content-Security-Policy", content_security_policy())


DRAINED_BYTES = 64 * 1024 * 1024  # read (and dropped) before a 413, so the client reads the answer


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` gets a 413 before anyone parses it.
    The rest of the body is read first (up to DRAINED_BYTES): a client still sending would
    otherwise meet a reset connection instead of the answer; the connection is closed after it."""

    def __init__(self, app, max_bytes: int, uploads: tuple[str, ...] = (), max_upload_bytes: int = 0):
        self.app, self.default, self.uploads, self.max_upload = app, max_bytes, uploads, max_upload_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.max_upload if scope["path"] in self.uploads else self.default
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > limit:
                return await self._refuse(receive, send, limit, drain=declared.isdigit())
            return await self.app(scope, receive, send)
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        # A body without a length (chunked): read it here, up to the limit, then replay it.
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                return await self._refuse(receive, send, limit, drain=more, read=len(body))
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, receive, send, limit: int, drain: bool, read: int = 0) -> None:
        while drain and read <= DRAINED_BYTES:
            event = await receive()
            if event["type"] == "http.disconnect":
                return
            read += len(event.get("body", b""))
            drain = event.get("more_body", False)
        message = f"Forespørgslen er for stor; højst {limit // 1024} KB."
        body = json.dumps({"error": {"code": "body_too_large", "message": message}}, ensure_ascii=False).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        headers += [
            (k.lower().encode(), v.encode())
            for k, v in {**HEADERS, "Content-Security-Policy": content_security_policy()}.items()
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def errors(*statuses: int) -> dict:
    """OpenAPI entries for the error answers a route gives (the contract's error JSON)."""
    return {status: {"model": ErrorResponse} for status in statuses}


def _given_key(request: Request) -> bytes | None:
    """The key a client sent, as the bytes it sent (headers arrive as Latin-1)."""
    given = request.headers.get("x-api-key")
    authorization = request.headers.get("authorization", "")
    if not given and authorization[:7].lower() == "bearer ":
        given = authorization[7:]
    return given.strip().encode("latin-1") if given else None


def check_key(request: Request, key: str) -> None:
    given = _given_key(request)
    if given is None or not secrets.compare_digest(given, key.encode("utf-8")):
        raise Refused("unauthorized", "Denne handling kræver en gyldig API-nøgle.", Problem.UNAUTHORIZED)


def require_api_key(request: Request) -> None:
    """Answers: open when no key is configured, else the key is required."""
    key = request.app.state.settings.api_key
    if key:
        check_key(request, key)


def require_admin(request: Request) -> None:
    """Administration: closed (403) when no key is configured, else the key is required."""
    key = request.app.state.settings.api_key
    if not key:
        raise Refused(
            "forbidden", "Administration er slået fra: der er ingen API-nøgle (CASEFINDER_API_KEY).", Problem.FORBIDDEN
        )
    check_key(request, key)
