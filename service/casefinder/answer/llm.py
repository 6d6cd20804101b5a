"""Answers from an OpenAI-compatible chat-completions endpoint (Ollama, vLLM, llama.cpp, Azure OpenAI).

Prompts are versioned files in prompts/. Passages go in numbered and fenced as data;
citations in the model's answer are checked against the passages given.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

PROMPT_VERSION = "v1"
_CITATION = re.compile(r"\s?\[(\d{1,3})\]")


class LLMError(RuntimeError):
    pass


@dataclass
class Prompts:
    system: str
    answer: str

    @classmethod
    def load(cls, prompts_dir: Path, version: str = PROMPT_VERSION) -> "Prompts":
        try:
            return cls(
                system=(prompts_dir / f"system_da.{version}.md").read_text("utf-8").strip(),
                answer=(prompts_dir / f"answer_da.{version}.md").read_text("utf-8").strip(),
            )
        except OSError as exc:
            raise LLMError(f"prompt-filerne mangler i {prompts_dir}: {exc}") from exc


def fence(n: int, title: str, municipality: str, text: str) -> str:
    """One passage as data; anything that looks like our fence inside the text is defused."""
    body = re.sub(r"</?passage\b", lambda m: m.group(0).replace("<", "‹"), text, flags=re.I)
    return f'<passage n="{n}" case="{title}" kommune="{municipality}">\n{body}\n</passage>'


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
    def __init__(self, base_url: str, model: str, api_key: str | None, timeout: float):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout = httpx.Timeout(timeout, connect=min(timeout, 5.0))

    def complete(self, messages: list[dict]) -> str:
        try:
            resp = httpx.post(self.url, json={"model": self.model, "messages": messages, "temperature": 0.1},
                              headers=self.headers, timeout=self.timeout)
            resp.raise_for_status()
            return resp.json()["choices"][0]["message"]["content"] or ""
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise LLMError(f"sprogmodellen svarede ikke brugbart: {exc}") from exc

    def stream(self, messages: list[dict]) -> Iterator[str]:
        body = {"model": self.model, "messages": messages, "temperature": 0.1, "stream": True}
        try:
            with httpx.stream("POST", self.url, json=body, headers=self.headers, timeout=self.timeout) as resp:
                resp.raise_for_status()
                for line in resp.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    delta = json.loads(data)["choices"][0].get("delta", {}).get("content")
                    if delta:
                        yield delta
        except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
            raise LLMError(f"sprogmodellen svarede ikke brugbart: {exc}") from exc
