"""Streamed answers that stop when their client goes away."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool


async def _until_closed(lines: Iterator[str], answer) -> AsyncIterator[str]:
    try:
        async for line in iterate_in_threadpool(lines):
            yield line
    finally:
        answer.close()


class AnswerStream(StreamingResponse):
    """Server-Sent Events of an answer. However the stream ends (done, or the client hung up
    and the next send failed) the answer behind it is closed at once: the upstream LLM call
    stops and the answer slot is given back, without waiting for garbage collection."""

    def __init__(self, lines: Iterator[str], answer, headers: dict | None = None):
        super().__init__(
            _until_closed(lines, answer),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", **(headers or {})},
        )

    async def stream_response(self, send) -> None:
        try:
            await super().stream_response(send)
        finally:
            await self.body_iterator.aclose()  # type: ignore[attr-defined]  # an async generator: it has one
