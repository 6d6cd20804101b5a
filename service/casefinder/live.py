"""The engine a server process serves, kept current with the index folder.

A build publishes a generation by replacing index/manifest.json (index/build.py). Every server
process looks at that pointer once a second (a ``stat``) and swaps in the generation it names
between requests; a request keeps the engine it started with. So a catalogue added or removed
through any worker, or with the command line, is served by every worker within about a second.

A process listens before it has anything to serve. It opens the published generation in the
background; when that is missing, stale or damaged, it serves what it can meanwhile (the last
good generation, else BM25 alone over the parsed corpus: "degraded") and builds a new one from
the embedding cache. SIGTERM or SIGINT stop that build between two batches.
"""

from __future__ import annotations

import logging
import os
import threading

from .config import Settings
from .corpus.parse import CorpusError, load_corpus
from .engine import Casefinder, LexicalCasefinder, Problem, Refused
from .index.build import PROGRESS, BuildStopped, load_index, open_published, read_progress
from .index.embedders import Embedder, EmbedderError, load_embedder
from .index.manifest import POINTER, IndexUnavailable

log = logging.getLogger(__name__)
STARTING = "Casefinder starter og åbner indekset; prøv igen om et øjeblik."


class LiveEngine:
    def __init__(self, settings: Settings, engine: Casefinder | None = None, poll_seconds: float = 1.0):
        self.settings, self.poll_seconds = settings, poll_seconds
        self._engine = engine
        # A LexicalCasefinder has no model; the first build loads it.
        self._embedder: Embedder | None = getattr(engine, "embedder", None)
        self._seen = self._pointer_stamp() if engine is not None else None
        self._swap_lock = threading.Lock()
        self._building = threading.Event()  # this process builds now
        self.stopping = threading.Event()  # set by SIGTERM/SIGINT: builds stop between batches
        self.problem: str | None = None  # why nothing can be served, when nothing can

    # ------------------------------------------------------------------ serving

    def current(self) -> Casefinder:
        """The engine for one request (it keeps it to the end, whatever is swapped in meanwhile)."""
        engine = self._engine
        if engine is None:
            raise Refused("starting", self.problem or STARTING, Problem.UNAVAILABLE)
        return engine

    def health(self) -> dict:
        engine = self._engine
        health = (
            engine.health()
            if engine is not None
            else {
                "status": "building",
                "worker": os.getpid(),
                "model": None,
                "generation": None,
                "documents": None,
                "cases": None,
                "chunks": None,
                "built_at": None,
            }
        )
        build = self.build_progress()
        if health["status"] == "ok" and build is not None:
            health["status"] = "building"
        if self.problem and engine is None:
            health["problem"] = self.problem
        return {**health, "build": build}

    @property
    def building(self) -> bool:
        """Whether this process builds a generation now."""
        return self._building.is_set()

    def build_progress(self) -> dict | None:
        """How far the build on this index folder is, whichever process runs it; None when none runs."""
        progress = read_progress(self.settings.index_dir)
        if progress is None:
            return {"done": 0, "total": None, "eta_s": None} if self._building.is_set() else None
        try:
            os.kill(int(progress["pid"]), 0)  # a build killed with SIGKILL left its file behind
        except (KeyError, ValueError, TypeError, ProcessLookupError):
            (self.settings.index_dir / PROGRESS).unlink(missing_ok=True)
            return None
        except PermissionError:
            pass
        return {key: progress.get(key) for key in ("done", "total", "eta_s")}

    def embedder(self) -> Embedder:
        """The model, loaded once per process (a missing model is refused, never replaced)."""
        if self._embedder is None:
            self._embedder = load_embedder(self.settings.model)
        return self._embedder

    # ------------------------------------------------------------------ keeping current

    def start(self) -> None:
        """Open what can be served and start watching the pointer, in the background: the
        process answers /healthz at once."""
        threading.Thread(target=self._open, name="casefinder-open", daemon=True).start()

    def _open(self) -> None:
        try:
            self.embedder()
            if self._engine is None:
                self._serve_what_can_be_served()
        except (EmbedderError, CorpusError) as exc:
            self.problem = f"Casefinder kan ikke starte: {exc}"
            log.error("%s", self.problem)
            return
        threading.Thread(target=self._watch, name="casefinder-watch", daemon=True).start()

    def _serve_what_can_be_served(self) -> None:
        assert self._embedder is not None
        self._seen = self._pointer_stamp()
        try:
            self._engine = Casefinder(
                self.settings, open_published(self.settings, self._embedder.model_id), self._embedder
            )
            return
        except IndexUnavailable as exc:
            log.warning("%s: bygger et nyt indeks og søger imens i det, der kan bruges", exc)
        try:  # stale or the fallback: still better than no vectors at all
            index = open_published(self.settings, self._embedder.model_id, current_only=False, fallback=True)
            self._engine = Casefinder(self.settings, index, self._embedder)
        except IndexUnavailable:
            self._engine = LexicalCasefinder(self.settings, load_corpus(self.settings.corpus_dir))
        self.build_in_background()

    def build_in_background(self) -> None:
        """Build a current generation unless this process builds already; the watcher swaps it in."""
        if self._building.is_set():
            return
        self._building.set()
        threading.Thread(target=self._build, name="casefinder-build", daemon=True).start()

    def _build(self) -> None:
        try:
            assert self._embedder is not None
            load_index(self.settings, self._embedder, progress=False, stop=self.stopping)
        except BuildStopped as exc:
            log.info("%s", exc)
        except (IndexUnavailable, CorpusError, EmbedderError, OSError) as exc:
            log.error("indekset kunne ikke bygges: %s", exc)
        finally:
            self._building.clear()
        self.refresh()

    def _watch(self) -> None:
        while not self.stopping.wait(self.poll_seconds):
            try:
                self.refresh()
            except Exception:  # the watcher must outlive any one bad look
                log.exception("indekset kunne ikke skiftes")

    def refresh(self) -> None:
        """Swap in the generation the pointer names, if the pointer changed since the last look.
        A pointer that names nothing usable leaves the current engine serving and starts a repair."""
        if self._pointer_stamp() == self._seen or self._embedder is None:
            return
        with self._swap_lock:
            stamp = self._pointer_stamp()
            if stamp == self._seen:
                return
            self._seen = stamp
            try:
                index = open_published(self.settings, self._embedder.model_id)
            except IndexUnavailable as exc:
                log.warning("%s; det hidtidige indeks bruges, mens et nyt bygges", exc)
                self.build_in_background()
                return
            if self._engine is None or index.generation != self._engine.generation:
                self._engine = Casefinder(self.settings, index, self._embedder)
                log.info("indeksgenerationen %s er taget i brug", index.generation)

    def _pointer_stamp(self) -> tuple[int, int, int] | None:
        try:
            info = os.stat(self.settings.index_dir / POINTER)
        except OSError:
            return None
        return info.st_ino, info.st_mtime_ns, info.st_size

    def stop(self) -> None:
        self.stopping.set()
