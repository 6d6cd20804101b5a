"""Evaluation of ranked hits against graded relevant spans (see ../shared/eval/README.md)."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .search.retriever import SearchResult


@dataclass
class QueryOutcome:
    id: str
    style: str
    recall: dict[int, float | None]
    mrr: float | None
    ndcg: float | None
    no_match: bool
    offtopic: bool


def load_queries(path: Path) -> list[dict]:
    queries = []
    for n, line in enumerate(Path(path).read_text("utf-8").splitlines(), 1):
        if line.strip():
            try:
                queries.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: ikke gyldig JSON ({exc.msg})") from exc
    return queries


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def score_query(query: dict, hits: list[tuple[str, int, int]], no_match: bool) -> QueryOutcome:
    """hits: (sha256, start, end) of each ranked hit's source span."""
    relevant = query.get("relevant", [])
    found_rank: dict[int, int] = {}  # relevant index -> rank of first hit matched to it
    for rank, (sha, start, end) in enumerate(hits, 1):
        best, best_overlap = None, 0
        for j, rel in enumerate(relevant):
            if rel["sha256"] == sha:
                ov = _overlap((start, end), (rel["start"], rel["end"]))
                if ov > best_overlap:
                    best, best_overlap = j, ov
        if best is not None and best not in found_rank:
            found_rank[best] = rank
    grade2 = [j for j, r in enumerate(relevant) if r["grade"] == 2]
    if not relevant:
        return QueryOutcome(
            query["id"], query.get("style", ""), {1: None, 5: None, 10: None}, None, None, no_match, True
        )
    recall = {
        k: sum(1 for j in grade2 if found_rank.get(j, 99) <= k) / len(grade2) if grade2 else None for k in (1, 5, 10)
    }
    ranks2 = [found_rank[j] for j in grade2 if j in found_rank and found_rank[j] <= 10]
    mrr = 1 / min(ranks2) if ranks2 else 0.0
    dcg = sum((2 ** relevant[j]["grade"] - 1) / math.log2(r + 1) for j, r in found_rank.items() if r <= 10)
    ideal = sorted((2 ** r["grade"] - 1 for r in relevant), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return QueryOutcome(query["id"], query.get("style", ""), recall, mrr, dcg / idcg if idcg else 0.0, no_match, False)


def evaluate(queries: list[dict], run: Callable[[str], SearchResult]) -> list[QueryOutcome]:
    outcomes = []
    for q in queries:
        result = run(q["query"])
        hits = [(h.case.sha256, h.start, h.end) for h in result.hits]
        outcomes.append(score_query(q, hits, result.no_match))
    return outcomes


def summarise(outcomes: list[QueryOutcome]) -> dict:
    def mean(values):
        values = [v for v in values if v is not None]
        return round(sum(values) / len(values), 3) if values else None

    def block(items):
        on = [o for o in items if not o.offtopic]
        return {
            "queries": len(items),
            "recall@1": mean(o.recall[1] for o in on),
            "recall@5": mean(o.recall[5] for o in on),
            "recall@10": mean(o.recall[10] for o in on),
            "mrr@10": mean(o.mrr for o in on),
            "ndcg@10": mean(o.ndcg for o in on),
        }

    by_style = defaultdict(list)
    for o in outcomes:
        by_style[o.style].append(o)
    off = [o for o in outcomes if o.offtopic]
    on = [o for o in outcomes if not o.offtopic]
    return {
        "overall": block(outcomes),
        "by_style": {s: block(items) for s, items in sorted(by_style.items()) if any(not o.offtopic for o in items)},
        "offtopic": {"queries": len(off), "flagged_no_match": sum(o.no_match for o in off)},
        "ontopic_wrongly_no_match": [o.id for o in on if o.no_match],
    }


def format_table(summary: dict) -> str:
    cols = ["queries", "recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"]
    rows = [("overall", summary["overall"])] + list(summary["by_style"].items())
    lines = [f"{'':<12}" + "".join(f"{c:>11}" for c in cols)]
    for name, r in rows:
        lines.append(f"{name:<12}" + "".join(f"{'' if r[c] is None else r[c]:>11}" for c in cols))
    off = summary["offtopic"]
    lines.append(
        f"off-topic: {off['flagged_no_match']}/{off['queries']} flagged no_match; "
        f"on-topic wrongly flagged: {len(summary['ontopic_wrongly_no_match'])} {summary['ontopic_wrongly_no_match']}"
    )
    return "\n".join(lines)


# ---------------------------------------------------------------------------- answers

ANSWER_KINDS = ("amount", "number", "person", "organisation", "place", "date", "tool", "other")
_CITATION = re.compile(r"\s*\[\d{1,3}\]")


def normalise_fact(text: str) -> str:
    """How a fact is compared with an answer: case, markup, dashes and spacing do not count."""
    text = _CITATION.sub("", text).casefold().replace("\u00ad", "")
    text = re.sub(r"[*_`]", "", text).replace("–", "-").replace("—", "-")
    return " ".join(text.split())


@dataclass
class AnswerOutcome:
    id: str
    kind: str
    contains_fact: bool  # every string the question's answer must hold is in the answer
    cites_case: bool  # a citation is the case that holds the answering sentence
    grounded: bool
    length: int  # characters of the answer text

    @property
    def correct(self) -> bool:
        return self.contains_fact and self.cites_case


def answering_cases(corpus, item: dict) -> set[str]:
    """The ids of the cases whose text holds the item's answering sentence."""
    return {
        c.id
        for c in corpus.cases
        if c.catalogue == item["document"] and any(s <= item["start"] < e for s, e in [(c.start, c.end), *c.duplicates])
    }


def score_answer(item: dict, answer, cases: set[str]) -> AnswerOutcome:
    """``answer``: a ``schemas.AskResponse``; ``cases``: the item's answering cases."""
    text = normalise_fact(answer.answer)
    return AnswerOutcome(
        item["id"],
        item.get("kind", ""),
        all(normalise_fact(s) in text for s in item["answer_contains"]),
        any(c.case.id in cases for c in answer.citations),
        answer.grounded,
        len(answer.answer),
    )


def summarise_answers(outcomes: list[AnswerOutcome]) -> dict:
    def block(items: list[AnswerOutcome]) -> dict:
        lengths = sorted(o.length for o in items)
        share = lambda flag: round(sum(map(flag, items)) / len(items), 3) if items else None  # noqa: E731
        return {
            "questions": len(items),
            "fact": share(lambda o: o.contains_fact),
            "cites": share(lambda o: o.cites_case),
            "fact+cites": share(lambda o: o.correct),
            "grounded": share(lambda o: o.grounded),
            "median_chars": lengths[len(lengths) // 2] if lengths else None,
            "max_chars": lengths[-1] if lengths else None,
        }

    by_kind = defaultdict(list)
    for o in outcomes:
        by_kind[o.kind].append(o)
    return {
        "overall": block(outcomes),
        "by_kind": {
            k: block(by_kind[k]) for k in (*ANSWER_KINDS, *sorted(set(by_kind) - set(ANSWER_KINDS))) if by_kind[k]
        },
        "missed": [o.id for o in outcomes if not o.correct],
    }


def format_answer_table(summary: dict) -> str:
    cols = ["questions", "fact", "cites", "fact+cites", "grounded", "median_chars", "max_chars"]
    rows = [("overall", summary["overall"])] + list(summary["by_kind"].items())
    lines = [f"{'':<13}" + "".join(f"{c:>13}" for c in cols)]
    for name, r in rows:
        lines.append(f"{name:<13}" + "".join(f"{'' if r[c] is None else r[c]:>13}" for c in cols))
    return "\n".join(lines)


def is_qa_file(items: list[dict]) -> bool:
    """A QA file holds questions with the facts their answers must contain."""
    return bool(items) and all("question" in i and "answer_contains" in i for i in items)


def evaluate_answers(items: list[dict], corpus, ask: Callable[[str], object]) -> list[AnswerOutcome]:
    return [score_answer(item, ask(item["question"]), answering_cases(corpus, item)) for item in items]


def query_hash(query: str) -> int:
    """A fixed number per query: it places a calibration query in its split and its fold."""
    return int(hashlib.sha256(query.encode()).hexdigest(), 16)


def split_of(query: str) -> str:
    """Which part of our calibration data a query belongs to: a third is held out, never fitted on."""
    return "holdout" if query_hash(query) % 3 == 0 else "fit"
