"""The live library, measured on copies of corpus/ and index/ with `casefinder serve --workers 2`.

    python bench/live.py [--repairs]

Prints the seconds from the answer (or the command's exit) until searches on fresh connections
(either worker may answer) find a catalogue added over HTTP or with the command line, 30 in a
row, and until 30 in a row no longer find it after a remove;
the seconds from start to the first /healthz; with --repairs, for each file of the served
generation cut in half (and for a garbage manifest): the seconds until a search answers, until
/healthz says "ok" again, and how many texts were embedded again; and the seconds a building
server takes to exit after SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from casefinder.config import get_settings  # noqa: E402
from casefinder.index.generation import DESCRIPTION  # noqa: E402
from casefinder.index.manifest import GENERATIONS, POINTER, read_pointer  # noqa: E402
from servers import ServeProcess  # noqa: E402

QUERY = "droner til inspektion af broer"
CATALOGUE = """# Nye samarbejder

## Kolding Kommune: Droner til inspektion af broer

Vejafdelingen bruger droner til at fotografere brounderside og autoværn. Inspektionen tager en dag
frem for en uge, og ingen medarbejdere skal hænge i lift over vandet.

## Vejle Kommune: Fælles vagtcentral for natteplejen

Tre kommuner samler nattevagternes opkald i én vagtcentral. Borgere med nødkald får svar inden for to
minutter, og sygeplejersker kører ud fra den nærmeste base.
"""
KEY = {"X-API-Key": "bench"}


def copies(folder: Path) -> dict[str, str]:
    settings = get_settings()
    shutil.copytree(settings.corpus_dir, folder / "corpus")
    shutil.copytree(settings.index_dir, folder / "index", ignore=shutil.ignore_patterns(".lock", ".build*"))
    return {
        **os.environ,
        "CASEFINDER_CORPUS_DIR": str(folder / "corpus"),
        "CASEFINDER_INDEX_DIR": str(folder / "index"),
        "CASEFINDER_API_KEY": "bench",
    }


def finds(url: str) -> bool:
    """One search on a fresh connection (so either worker may answer): is the catalogue among the hits?"""
    with httpx.Client() as fresh:
        body = fresh.get(url + "/api/search", params={"q": QUERY, "k": 5}, timeout=30).json()
    return any(h["case"]["catalogue"] == "nye-samarbejder" for h in body["hits"])


def seconds_until(url: str, wanted: bool, since: float, streak: int = 30) -> float:
    """Seconds from ``since`` to the first of ``streak`` searches in a row that all say ``wanted``."""
    started, run = None, 0
    while run < streak:
        at = time.perf_counter()
        if finds(url) == wanted:
            started, run = started or at, run + 1
        else:
            started, run = None, 0
    return (started or time.perf_counter()) - since


def library(folder: Path) -> None:
    env = copies(folder)
    server = ServeProcess("--workers", "2", env=env)
    print(f"first /healthz {server.answering_after:.1f} s after the start; 'ok' after {server.ready_after:.1f} s")
    try:
        started = time.perf_counter()
        r = httpx.post(
            server.url + "/api/catalogues",
            headers=KEY,
            timeout=300,
            files={"file": ("nye-samarbejder.md", CATALOGUE.encode(), "text/markdown")},
        )
        answered = time.perf_counter()
        print(
            f"HTTP add: answered {r.status_code} in {answered - started:.1f} s; "
            f"every search finds it {seconds_until(server.url, True, answered):.1f} s after the answer"
        )
        r = httpx.delete(server.url + "/api/catalogues/nye-samarbejder", headers=KEY, timeout=300)
        answered = time.perf_counter()
        gone = seconds_until(server.url, False, answered)
        print(f"HTTP remove: answered {r.status_code}; no search finds it {gone:.1f} s after the answer")
        (folder / "nye-samarbejder.md").write_text(CATALOGUE, "utf-8")
        subprocess.run(
            [sys.executable, "-m", "casefinder.cli", "add", str(folder / "nye-samarbejder.md")],
            env=env,
            check=True,
            capture_output=True,
        )
        exited = time.perf_counter()
        print(f"CLI add: every search finds it {seconds_until(server.url, True, exited):.1f} s after the command exits")
    finally:
        server.close()


def repair(folder: Path, damage: str) -> None:
    env = copies(folder)
    index = folder / "index"
    if damage == POINTER:
        (index / POINTER).write_bytes(b"\x00\xffikke json")
    else:
        target = index / GENERATIONS / read_pointer(index)["generation"] / damage
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    started = time.perf_counter()
    server = ServeProcess("--workers", "2", env=env, wait_ok=False)
    try:
        while httpx.get(server.url + "/api/search", params={"q": "fælles it-drift"}, timeout=30).status_code != 200:
            time.sleep(0.1)
        searching = time.perf_counter() - started
        while httpx.get(server.url + "/healthz").json()["status"] != "ok":
            time.sleep(0.1)
        ok = time.perf_counter() - started
    finally:
        server.close()
    built = json.loads((index / GENERATIONS / read_pointer(index)["generation"] / DESCRIPTION).read_text())
    print(
        f"{damage:<28} first /healthz {server.answering_after:4.1f} s, search {searching:4.1f} s, "
        f"'ok' {ok:4.1f} s, embedded again {built['embedded_now']}"
    )


def sigterm(folder: Path) -> None:
    env = copies(folder)
    shutil.rmtree(folder / "index")  # every text must be embedded
    server = ServeProcess("--workers", "2", env=env, wait_ok=False)
    while not (build := httpx.get(server.url + "/healthz").json()["build"]) or build["done"] < 64:
        time.sleep(0.2)
    stopped = time.perf_counter()
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(60)
    print(
        f"SIGTERM while embedding ({build['done']} of {build['total']} texts): "
        f"exited in {time.perf_counter() - stopped:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repairs", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        library(Path(tmp) / "library")
        if args.repairs:
            for damage in (
                "chunks.json",
                "vectors.npy",
                "keys.json",
                "centroids.npy",
                "sentences.npy",
                "vocabulary.json",
                "state.pickle",
                "dense.faiss",
                "bm25/data.csc.index.npy",
                "generation.json",
                POINTER,
            ):
                repair(Path(tmp) / damage.replace("/", "-"), damage)
            sigterm(Path(tmp) / "sigterm")


if __name__ == "__main__":
    main()
