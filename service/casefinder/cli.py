"""The ``casefinder`` command: index, serve, search, ask, eval, cases."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from functools import partial
from pathlib import Path
from typing import Any

from .config import get_settings


def _print_json(data) -> None:
    if hasattr(data, "model_dump_json"):
        print(data.model_dump_json(indent=2))
    else:
        print(json.dumps(data, ensure_ascii=False, indent=2))


def _engine(args):
    from .engine import Casefinder

    return Casefinder.load(get_settings(), progress=sys.stderr.isatty() or getattr(args, "progress", False))


def cmd_index(args) -> int:
    import resource
    import time

    from .index.build import build_index
    from .index.embedders import load_embedder

    settings = get_settings()
    started = time.perf_counter()
    index = build_index(settings, load_embedder(settings.model), progress=True)
    m = index.manifest
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"Indeks bygget i {time.perf_counter() - started:.1f} s: {m['cases']} enheder, {m['chunks']} afsnit, "
        f"{m['embedded_now']} embeddet nu, model {m['model']}, maks. hukommelse {peak_mb:.0f} MB → {settings.index_dir}"
    )
    return 0


def cmd_serve(args) -> int:
    import os

    import uvicorn

    settings = get_settings()
    workers = args.workers or settings.workers or os.cpu_count() or 1
    options: dict[str, Any] = {
        "host": args.host or settings.host,
        "port": args.port or settings.port,
        "log_config": _log_config(),
        "access_log": False,
    }
    # Every worker listens at once and opens the published index in the background; a missing,
    # stale or damaged one is built by the first worker to take the build lock while the
    # workers search what they can (live.py), and each swaps in what it published.
    if workers == 1:
        from .api.app import create_app

        uvicorn.run(create_app(settings), **options)
    else:  # one process per core: the model and the GIL each serve one request at a time
        # The model's OpenMP threads share the cores between workers instead of each taking all.
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
        from uvicorn.supervisors import Multiprocess

        config = uvicorn.Config("casefinder.api.app:create_app", factory=True, workers=workers, **options)
        Multiprocess(config, sockets=[_listening_socket(config.host, config.port)]).run()
    return 0


def _listening_socket(host: str, port: int):
    """The socket the workers share, made as a TCP socket by protocol number: asyncio sets
    TCP_NODELAY only on connections of such sockets, and without it every response waited
    40 ms for a delayed ACK (measured: /healthz 44 ms with uvicorn's own socket, a few ms with this)."""
    import socket

    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)[0]
    sock = socket.socket(info[0], info[1], info[2])
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(info[4])
    sock.set_inheritable(True)
    return sock


def _log_config() -> dict:
    """uvicorn's logging, plus one line per request from casefinder.access, in every worker."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["casefinder"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def cmd_mcp(args) -> int:
    """The MCP server over stdio, for assistants that start it themselves (Claude Desktop, IDEs).
    stdout is the protocol's: everything else goes to stderr."""
    from .engine import Casefinder
    from .mcp_server import build_server

    engine = Casefinder.load(get_settings(), progress=False)
    build_server(lambda: engine).run("stdio")
    return 0


def cmd_add(args) -> int:
    from .corpus.library import adding
    from .index.build import build_index
    from .index.embedders import load_embedder

    settings = get_settings()
    embedder = load_embedder(settings.model)  # a missing model is refused before anything is written
    with adding(
        settings.corpus_dir, Path(args.file), args.id, args.title, args.publisher, args.year, args.source
    ) as doc_id:
        index = build_index(settings, embedder, progress=True)  # embeds only the new text
    cases = sum(c.catalogue == doc_id for c in index.corpus.cases)
    print(f"{doc_id}: {cases} enheder, {index.manifest['embedded_now']} afsnit embeddet", file=sys.stderr)
    print(doc_id)
    return 0


def cmd_remove(args) -> int:
    from .corpus.library import remove_catalogue
    from .index.build import build_index
    from .index.embedders import load_embedder

    settings = get_settings()
    removed = remove_catalogue(settings.corpus_dir, args.id)
    build_index(settings, load_embedder(settings.model), progress=True)
    print(f"{args.id} fjernet ({', '.join(removed)})")
    return 0


def cmd_search(args) -> int:
    from .schemas import Filters

    engine = _engine(args)
    result = engine.search(
        args.query, args.k, Filters(municipality=args.municipality, catalogue=args.catalogue, area=args.area)
    )
    if args.json:
        _print_json(result)
        return 0
    if result.no_match:
        print(f"Ingen cases ser ud til at svare på „{result.query}“. Nærmeste:")
    for hit in result.hits:
        print(
            f"{hit.rank:>2}. {hit.case.title}  [{hit.case.municipality or '—'} · {hit.case.catalogue}]  {hit.score:.3f}"
        )
        print(f"    {hit.source.url}")
    return 0


def cmd_ask(args) -> int:
    engine = _engine(args)
    answer = engine.ask(args.question, args.k)
    if args.json:
        _print_json(answer)
        return 0
    print(answer.answer)
    for c in answer.citations:
        print(f"[{c.n}] {c.case.title} ({c.case.municipality or c.case.catalogue}) {c.source.url}")
    return 0


def cmd_eval(args) -> int:
    from .evaluate import evaluate, format_table, is_qa_file, load_queries, summarise

    engine = _engine(args)
    queries = load_queries(Path(args.file))
    if is_qa_file(queries):
        return _eval_answers(engine, queries, args)
    modes = ["bm25", "dense", "hybrid"] if args.compare else [args.mode]
    report = {}
    for mode in modes:
        outcomes = evaluate(queries, partial(engine.retriever.search, k=10, mode=mode))
        report[mode] = summarise(outcomes)
        if not args.json:
            print(f"== {mode} ({args.file})")
            print(format_table(report[mode]))
    if args.json:
        _print_json(report if args.compare else report[args.mode])
    return 0


def _eval_answers(engine, items: list[dict], args) -> int:
    """A QA file: do the extractive answers hold the facts asked for, and cite their cases?"""
    from .evaluate import evaluate_answers, format_answer_table, summarise_answers

    summary = summarise_answers(evaluate_answers(items, engine.corpus, lambda q: engine.ask(q, llm=False)))
    if args.json:
        _print_json(summary)
    else:
        print(f"== svar ({args.file})")
        print(format_answer_table(summary))
    return 0


def cmd_cases(args) -> int:
    from .corpus.models import UNIT_KINDS
    from .corpus.parse import load_corpus

    corpus = load_corpus(get_settings().corpus_dir)
    cases = [c for c in corpus.cases if not args.catalogue or c.catalogue == args.catalogue]
    if args.json:
        _print_json([c.summary() for c in cases])
        return 0
    for doc in corpus.documents:
        units = [c for c in cases if c.catalogue == doc.id]
        if not units:
            continue
        kinds = {k: sum(c.kind == k for c in units) for k in UNIT_KINDS}
        print(f"{doc.id} ({doc.layout}): " + ", ".join(f"{n} {k}" for k, n in kinds.items() if n))
        for c in units:
            print(f"  {c.kind:<8} {c.start:>7}-{c.end:<7} {c.title[:70]}  [{c.municipality or '—'}]")
    for w in corpus.warnings:
        print(f"advarsel: {w}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="casefinder", description="Søg i KL's kataloger over kommunale cases.")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("index", help="(gen)byg indekset fra corpus/ til index/").set_defaults(func=cmd_index)

    p = sub.add_parser("serve", help="API og søgeside; bygger indekset først hvis det mangler")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int, help="processer (standard: antal kerner)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("mcp", help="MCP-server over stdio til AI-assistenter (samme værktøjer som /mcp)")
    p.set_defaults(func=cmd_mcp)

    p = sub.add_parser("add", help="tilføj et katalog (.txt, .md, .pdf, .docx, .html) og indeksér kun det nye")
    p.add_argument("file")
    p.add_argument("--id")
    p.add_argument("--title")
    p.add_argument("--publisher")
    p.add_argument("--year", type=int)
    p.add_argument("--source", help="originalens adresse")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("remove", help="fjern et katalog fra corpus/, manifestet og indekset")
    p.add_argument("id")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("search", help="rangerede cases for en søgning")
    p.add_argument("query")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--municipality", action="append", default=[])
    p.add_argument("--catalogue", action="append", default=[])
    p.add_argument("--area", action="append", default=[])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", help="et kort svar med kildehenvisninger")
    p.add_argument("question")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("eval", help="kør en fil med testsøgninger (eller spørgsmål med svar) og udskriv målinger")
    p.add_argument("file")
    p.add_argument("--mode", choices=["hybrid", "dense", "bm25"], default="hybrid")
    p.add_argument("--compare", action="store_true", help="sammenlign bm25, dense og hybrid")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("cases", help="de fortolkede cases")
    p.add_argument("--catalogue")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_cases)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .corpus.parse import CorpusError
    from .engine import Refused
    from .index.embedders import EmbedderError
    from .index.manifest import IndexUnavailable

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (Refused, CorpusError, EmbedderError, IndexUnavailable, OSError, ValueError) as exc:
        print(f"fejl: {getattr(exc, 'message', None) or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
