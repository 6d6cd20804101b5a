"""Answers from an OpenAI-compatible chat-completions endpoint (Ollama, vLLM, llama.cpp, Azure OpenAI).

Prompts are versioned files in prompts/. Passages go in numbered and fenced as data;
citations in the model's answer are checked against the passages given.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

PROMPT_VERSION = "v2"
_CITATION = re.compile(r"\s?\[(\d{1,3})\]")


class LLMError(RuntimeError):
    pass


@dataclass
class Prompts:
    system: str
    answer: str

    @classmethod
    def load(cls, prompts_dir: Path, version: str = PROMPT_VERSION) -> Prompts:
        try:
            return cls(
                system=(prompts_dir / f"system_da.{version}.md").read_text("utf-8").strip(),
                answer=(prompts_dir / f"answer_da.{version}.md").read_text("utf-8").strip(),
            )
        except OSError as exc:
            raise LLMError(f"prompt-filerne mangler i {prompts_dir}: {exc}") from exc


def _defused(text: str) -> str:
    return re.sub(r"</?passage\b", lambda m: m.group(0).replace("<", "‹"), text, flags=re.I)


def fence(
    n: int, title: str, municipality: str, text: str, answering: Sequence[str] = (), page: int | None = None
) -> str:
    """One passage as data, led by the case's sentences that answer the question (where any were
    found); anything that looks like our fence inside the text is defused."""
    lead = "".join(f"Svarer: {_defused(s)}\n" for s in answering)
    where = f' side="{page}"' if page else ""
    opening = f'<passage n="{n}" case="{_defused(title)}" kommune="{municipality}"{where}>'
    return f"{opening}\n{lead}{_defused(text)}\n</passage>"


def build_messages(prompts: Prompts, question: str, passages: list[str]) -> list[dict]:
    user = prompts.answer.replace("{question}", question).replace("{passages}", "\n\n".join(passages))
    return [{"role": "system", "content": prompts.system}, {"role": "user", "content": user}]


def check_citations(text: str, allowed: int) -> str:
    """Drop [n] that point at no passage given to the model."""
    return _CITATION.sub(lambda m: m.group(0) if 1 <= int(m.group(1)) <= allowed else "", text)


class CitationStream:
    """Applies ``check_citations`` to streamed text without ever cutting a [n] in half."""

    def __init__(self, allowed: int):
        self.allowed = allowed
        self.pending = ""

    def feed(self, piece: str) -> str:
        self.pending += piece
        cut = self.pending.rfind("[")
        if cut != -1 and "]" not in self.pending[cut:] and len(self.pending) - cut <= 5:
            ready, self.pending = self.pending[:cut], self.pending[cut:]
        else:
            ready, self.pending = self.pending, ""
        return check_citations(ready, self.allowed)

    def flush(self) -> str:
        rest, self.pending = self.pending, ""
        return check_citations(rest, self.allowed)


class ChatClient:
    """An OpenAI-compatible endpoint through the official ``openai`` client (so Azure-style
    streams work too), under one total deadline per answer.

    The call runs in a worker thread that hands pieces over a queue; the caller waits at
    most ``timeout`` seconds in all, however slowly the upstream trickles, and stops the
    worker (closing the upstream stream) when it gives up or its own client goes away.
    Any answer that is not text, empty or malformed raises ``LLMError``."""

    def __init__(self, base_url: str, model: str, api_key: str | None, timeout: float):
        import openai  # only where an endpoint is configured: the import alone takes 0.4 s

        self.model = model
        self.timeout = timeout
        self.client = openai.OpenAI(
            base_url=base_url.rstrip("/"),
            api_key=api_key or "unused",
            max_retries=0,
            timeout=openai.Timeout(timeout, connect=min(timeout, 5.0)),
        )

    def complete(self, messages: list[dict]) -> str:
        return "".join(self._within(lambda put, stop: put(self._message(messages))))

    def stream(self, messages: list[dict]) -> Iterator[str]:
        return self._within(lambda put, stop: self._deltas(messages, put, stop))

    def _message(self, messages: list[dict]) -> str:
        response = self.client.chat.completions.create(
            model=self.model,
            messages=messages,  # type: ignore[arg-type]  # role/content dicts, as the API takes them
            temperature=0.1,
        )
        return _text(response.choices[0].message.content)

    def _deltas(self, messages: list[dict], put: Callable[[str], None], stop: threading.Event) -> None:
        got = False
        with self.client.chat.completions.create(  # type: ignore[union-attr]  # stream=True: a Stream
            model=self.model,
            messages=messages,  # type: ignore[arg-type]
            temperature=0.1,
            stream=True,
        ) as stream:
            for chunk in stream:
                if stop.is_set():
                    return
                for choice in chunk.choices or ():  # Azure sends chunks without choices first
                    content = getattr(getattr(choice, "delta", None), "content", None)
                    if content is not None:
                        put(_text(content, allow_empty=True))
                        got = got or bool(content.strip())
        if not got:
            raise LLMError("sprogmodellen sendte et tomt svar")

    def _within(self, work: Callable[[Callable[[str], None], threading.Event], None]) -> Iterator[str]:
        pieces: queue.Queue = queue.Queue()
        stop = threading.Event()

        def run() -> None:
            try:
                work(pieces.put, stop)
                pieces.put(_END)
            except Exception as exc:  # whatever the upstream did, the caller gets an LLMError
                pieces.put(exc)

        threading.Thread(target=run, daemon=True, name="llm-call").start()
        deadline = time.monotonic() + self.timeout
        try:
            while True:
                try:
                    item = pieces.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    raise LLMError(f"sprogmodellen svarede ikke inden for {self.timeout:g} sekunder") from None
                if item is _END:
                    return
                if isinstance(item, LLMError):
                    raise item
                if isinstance(item, Exception):
                    raise LLMError(f"sprogmodellen svarede ikke brugbart: {type(item).__name__}: {item}") from item
                yield item
        finally:
            stop.set()


_END = object()


def _text(content: object, allow_empty: bool = False) -> str:
    if not isinstance(content, str) or not (allow_empty or content.strip()):
        raise LLMError(f"sprogmodellen svarede ikke med tekst ({type(content).__name__})")
    return content
