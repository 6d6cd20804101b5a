"""Do the answers state the fact asked for? Extractive answers to the QA set, fit vs held out.

    python bench/answers_quality.py [--file bench/calibration/qa.jsonl] [--json]

``bench/calibration/qa.jsonl``: factual questions over all five catalogues, each with its answering
sentence (offsets into the catalogue file) and the short strings a correct answer contains,
written by writers who saw neither the dev queries nor the answer scorer. A third of them (by a
hash of the question, as in bench/calibrate.py) is held out: never fitted on, and the figures to
quote. Reports per split and question kind: the share of answers holding the fact, citing the
answering case, both, and the answers' median and longest length.

    python bench/answers_quality.py --fit [--l2 0.01]

    python bench/answers_quality.py --latency

times /api/ask's work against /api/search's in one process, on the QA questions, each fresh to
the query cache for both (the answer must cost at most 10 ms more at the median).

The fit (``--fit``) fits the answer-sentence model (``Settings.answer``) on the fit split: for each question, the
candidates are the sentences of the cases the answer may cite, and the model is a conditional
logit (a softmax over each question's candidates) that puts its weight on the sentences holding
every fact asked for. Prints the weights to put in ``config.AnswerModel``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from casefinder.answer.extractive import FEATURES, feature_matrix  # noqa: E402
from casefinder.config import Settings  # noqa: E402
from casefinder.engine import Casefinder  # noqa: E402
from casefinder.evaluate import (  # noqa: E402
    evaluate_answers,
    format_answer_table,
    load_queries,
    normalise_fact,
    split_of,
    summarise_answers,
)

QA = ROOT / "calibration" / "qa.jsonl"


def training_data(engine: Casefinder, items: list[dict]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per question with a correct candidate: (features, which candidates hold every fact)."""
    answerer = engine.answerer
    data = []
    for item in items:
        result = engine.retriever.search(item["question"], 5)
        found = answerer.ranked_sentences(item["question"], answerer._answering(result))
        if not found:
            continue
        facts = [normalise_fact(s) for s in item["answer_contains"]]
        labels = np.array([all(f in normalise_fact(c.text) for f in facts) for c in found])
        if labels.any():
            data.append((feature_matrix(found), labels))
    return data


def fit(data: list[tuple[np.ndarray, np.ndarray]], l2: float) -> dict[str, float]:
    """Conditional logit: maximise each question's softmax weight on its correct candidates.
    Features are standardised for the fit and the weights mapped back."""
    stacked = np.vstack([x for x, _ in data])
    mean, sd = stacked.mean(axis=0), stacked.std(axis=0) + 1e-9

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros_like(w)
        for x, y in data:
            z = ((x - mean) / sd) @ w
            p = np.exp(z - z.max())
            p /= p.sum()
            good = p[y].sum()
            total -= np.log(good)
            xs = (x - mean) / sd
            grad -= (p[y] / good) @ xs[y] - p @ xs
        return total / len(data) + l2 * w @ w, grad / len(data) + 2 * l2 * w

    w = minimize(loss, np.zeros(len(FEATURES)), jac=True, method="L-BFGS-B").x / sd
    return {name: round(float(v), 3) for name, v in zip(FEATURES, w)}


def latency(engine: Casefinder, questions: list[str]) -> dict[str, float]:
    """Median milliseconds of a search and of an extractive answer, each with a fresh query vector."""
    timings: dict[str, list[float]] = {"search": [], "ask": []}
    calls = {"search": lambda q: engine.search(q, 10), "ask": lambda q: engine.ask(q, llm=False)}
    for q in questions:
        for name, call in calls.items():
            engine.retriever._cache.clear()
            started = time.perf_counter()
            call(q)
            timings[name].append((time.perf_counter() - started) * 1000)
    medians = {f"{name}_p50_ms": round(statistics.median(v), 1) for name, v in timings.items()}
    return {**medians, "ask_minus_search_ms": round(medians["ask_p50_ms"] - medians["search_p50_ms"], 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--file", type=Path, default=QA)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--fit", action="store_true", help="fit Settings.answer on the fit split and print it")
    parser.add_argument("--l2", type=float, default=0.01)
    parser.add_argument("--latency", action="store_true", help="median search and answer time in one process")
    args = parser.parse_args()
    engine = Casefinder.load(Settings(), progress=False)
    items = load_queries(args.file)
    if args.latency:
        print(json.dumps(latency(engine, [i["question"] for i in items[:120]])))
        return
    if args.fit:
        data = training_data(engine, [i for i in items if split_of(i["question"]) == "fit"])
        print(f"{len(data)} spørgsmål med et rigtigt kandidat-svar")
        print(json.dumps(fit(data, args.l2), indent=2))
        return
    outcomes = evaluate_answers(items, engine.corpus, lambda q: engine.ask(q, llm=False))
    by_id = {o.id: o for o in outcomes}
    report = {}
    for split in ("fit", "holdout"):
        report[split] = summarise_answers([by_id[i["id"]] for i in items if split_of(i["question"]) == split])
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return
    for split, summary in report.items():
        print(f"== {split} ({summary['overall']['questions']} spørgsmål)")
        print(format_answer_table(summary))


if __name__ == "__main__":
    main()
