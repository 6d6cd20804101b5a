"""POST /v1/chat/completions in the OpenAI format, so chat clients and bots need no custom code."""

from __future__ import annotations

import json
import time
import uuid

from .. import schemas
from ..answer.answerer import actor
from ..engine import Casefinder, Refused, visible_text
from .streams import AnswerStream

MODEL = "casefinder"


def _last_user_message(body: schemas.ChatRequest) -> str:
    """The question: the last message from the user that holds text (an empty one is skipped)."""
    for message in reversed(body.messages):
        if message.role == "user":
            content = message.content
            if isinstance(content, list):  # [{"type": "text", "text": …}, …]
                content = " ".join(part.text for part in content if part.type == "text")
            if content and visible_text(content):
                return content
    raise Refused("no_user_message", "Samtalen indeholder ingen besked fra brugeren.")


def sources_block(answer: schemas.AskResponse) -> str:
    if not answer.citations:
        return ""
    lines = [f"[{c.n}] {c.case.title} – {actor(c.case) or c.case.catalogue} ({c.source.url})" for c in answer.citations]
    return "\n\nKilder:\n" + "\n".join(lines)


def complete(engine: Casefinder, body: schemas.ChatRequest):
    question = _last_user_message(body)
    ident = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    if body.stream:
        events = engine.ask_stream(question)

        def chunks():
            def chunk(delta: dict, finish: str | None = None) -> str:
                payload = {
                    "id": ident,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": MODEL,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
                return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

            yield chunk({"role": "assistant", "content": ""})
            for name, data in events:
                if name == "delta":
                    yield chunk({"content": data["text"]})
                else:
                    yield chunk({"content": sources_block(schemas.AskResponse(**data))})
            yield chunk({}, "stop")
            yield "data: [DONE]\n\n"

        return AnswerStream(chunks(), events)
    answer = engine.ask(question)
    content = answer.answer + sources_block(answer)
    return {
        "id": ident,
        "object": "chat.completion",
        "created": created,
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": len(question.split()),
            "completion_tokens": len(content.split()),
            "total_tokens": len(question.split()) + len(content.split()),
        },
        "casefinder": answer.model_dump(),
    }
