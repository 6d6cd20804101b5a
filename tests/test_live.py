"""A live library: real `casefinder serve --workers 2` servers on copies of corpus/ and index/.
A change made through either worker or the command line is served by every worker within
seconds; a damaged index answers at once and is repaired from the embedding cache; SIGTERM
stops a building server."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import httpx
import pytest

from casefinder.index.build import CACHE
from casefinder.index.cache import EmbeddingCache
from casefinder.index.manifest import GENERATIONS, POINTER, read_pointer
from servers import ServeProcess

pytestmark = pytest.mark.corpus

KEY = {"X-API-Key": "hemmelig"}
QUERY = "droner til inspektion af broer"
CATALOGUE = """# Nye samarbejder 2026

## Kolding Kommune: Droner til inspektion af broer

Vejafdelingen bruger droner til at fotografere brounderside og autoværn. Inspektionen tager en dag
frem for en uge, og ingen medarbejdere skal hænge i lift over vandet. Billederne lægges i kommunens
vejregister, så revner og rust kan følges fra år til år.

## Vejle Kommune: Fælles vagtcentral for natteplejen

Tre kommuner samler nattevagternes opkald i én vagtcentral. Borgere med nødkald får svar inden for to
minutter, og sygeplejersker kører ud fra den nærmeste base. Ordningen sparer 1,2 mio. kr. om året.
"""


@pytest.fixture()
def folders(settings, tmp_path):
    """Copies of the bundled corpus and index, and the environment that points a server at them."""
    shutil.copytree(settings.corpus_dir, tmp_path / "corpus")
    shutil.copytree(settings.index_dir, tmp_path / "index", ignore=shutil.ignore_patterns(".lock", ".build*"))
    env = {
        "CASEFINDER_CORPUS_DIR": str(tmp_path / "corpus"),
        "CASEFINDER_INDEX_DIR": str(tmp_path / "index"),
        "CASEFINDER_API_KEY": "hemmelig",
        "PYTHONUNBUFFERED": "1",
    }
    return tmp_path, env


def finds(url: str, catalogue: str, n: int = 30) -> int:
    """Of ``n`` searches on fresh connections (so either worker may answer), how many find the catalogue."""
    found = 0
    for _ in range(n):
        with httpx.Client() as fresh:
            response = fresh.get(url + "/api/search", params={"q": QUERY, "k": 5}, timeout=30)
            assert response.status_code == 200
            found += any(h["case"]["catalogue"] == catalogue for h in response.json()["hits"])
    return found


def seconds_until(url: str, catalogue: str, wanted: int, limit: float = 30) -> float:
    """Seconds until 30 of 30 searches find it (``wanted`` 30) or none does (0)."""
    started = time.perf_counter()
    while finds(url, catalogue) != wanted:
        assert time.perf_counter() - started < limit, f"efter {limit} s fandt søgningerne det stadig ikke/stadig"
        time.sleep(0.2)
    return time.perf_counter() - started


def test_every_worker_serves_a_catalogue_added_or_removed_over_http_within_seconds(folders):
    tmp_path, env = folders
    server = ServeProcess("--workers", "2", env=env)
    try:
        assert finds(server.url, "nye-samarbejder") == 0
        added = httpx.post(
            server.url + "/api/catalogues",
            headers=KEY,
            timeout=120,
            files={"file": ("nye-samarbejder.md", CATALOGUE.encode(), "text/markdown")},
        )
        assert added.status_code == 201
        assert seconds_until(server.url, "nye-samarbejder", 30) < 5
        workers = {}
        while len(workers) < 2:
            with httpx.Client() as fresh:
                health = fresh.get(server.url + "/healthz").json()
                workers[health["worker"]] = health
        assert [h["documents"] for h in workers.values()] == [6, 6]
        assert len({h["generation"] for h in workers.values()}) == 1
        for _ in range(10):  # every worker deletes what either one added
            with httpx.Client() as fresh:
                assert fresh.get(server.url + "/documents/nye-samarbejder").status_code == 200
        removed = httpx.delete(server.url + "/api/catalogues/nye-samarbejder", headers=KEY, timeout=120)
        assert removed.status_code == 200
        assert seconds_until(server.url, "nye-samarbejder", 0) < 5
        for _ in range(10):
            with httpx.Client() as fresh:
                assert fresh.get(server.url + "/documents/nye-samarbejder").status_code == 404
                assert fresh.delete(server.url + "/api/catalogues/nye-samarbejder", headers=KEY).status_code == 404
    finally:
        server.close()


def test_a_catalogue_added_with_the_command_line_is_served_without_a_restart(folders):
    tmp_path, env = folders
    server = ServeProcess("--workers", "2", env=env)
    try:
        (tmp_path / "nye-samarbejder.md").write_text(CATALOGUE, "utf-8")
        subprocess.run(
            [sys.executable, "-m", "casefinder.cli", "add", str(tmp_path / "nye-samarbejder.md")],
            env={**os.environ, **env},
            check=True,
            capture_output=True,
            timeout=300,
        )
        assert seconds_until(server.url, "nye-samarbejder", 30) < 5
        with httpx.Client() as fresh:
            assert fresh.get(server.url + "/documents/nye-samarbejder").status_code == 200
    finally:
        server.close()


def _cut_the_largest_file(index_dir):
    folder = index_dir / GENERATIONS / read_pointer(index_dir)["generation"]
    largest = max((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    largest.write_bytes(largest.read_bytes()[: largest.stat().st_size // 2])


def _garbage_manifest(index_dir):
    (index_dir / POINTER).write_bytes(b"\x00\xffikke json")


@pytest.mark.parametrize("damage", [_cut_the_largest_file, _garbage_manifest])
def test_a_damaged_index_answers_at_once_and_is_repaired_from_the_cache_in_seconds(folders, damage):
    tmp_path, env = folders
    damage(tmp_path / "index")
    server = ServeProcess("--workers", "2", env=env, wait_ok=False)
    try:
        assert server.answering_after < 15
        started = time.perf_counter()
        while (
            search := httpx.get(server.url + "/api/search", params={"q": "fælles it-drift"}, timeout=30)
        ).status_code != 200:
            assert search.status_code == 503 and search.json()["error"]["code"] == "starting"
            assert time.perf_counter() - started < 60
            time.sleep(0.2)
        assert search.json()["hits"]
        while httpx.get(server.url + "/healthz").json()["status"] != "ok":
            assert time.perf_counter() - started < 60
            time.sleep(0.2)
        answer = httpx.post(
            server.url + "/api/ask", json={"question": "Hvilke kommuner deler it-drift?"}, headers=KEY, timeout=30
        )
        assert answer.status_code == 200 and answer.json()["grounded"]
    finally:
        server.close()
    assert read_pointer(tmp_path / "index") is not None


def test_sigterm_stops_a_building_server_within_seconds_and_the_next_start_resumes(folders):
    tmp_path, env = folders
    shutil.rmtree(tmp_path / "index")  # nothing cached: every text must be embedded
    server = ServeProcess("--workers", "2", env=env, wait_ok=False)
    try:
        started = time.perf_counter()
        while not ((build := httpx.get(server.url + "/healthz").json()["build"]) and build["done"] >= 32):
            assert time.perf_counter() - started < 120
            time.sleep(0.2)
        degraded = httpx.get(server.url + "/api/search", params={"q": "fælles it-drift"}, timeout=30).json()
        assert degraded["degraded"] is True and degraded["hits"]
        assert (
            httpx.post(
                server.url + "/api/ask", json={"question": "Hvem deler it-drift?"}, headers=KEY, timeout=30
            ).json()["error"]["code"]
            == "degraded"
        )
        stopped = time.perf_counter()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(30)
        assert time.perf_counter() - stopped < 10
    finally:
        if server.process.poll() is None:
            server.process.kill()
    kept = len(EmbeddingCache(tmp_path / "index" / CACHE).read())
    assert kept >= 32
    again = ServeProcess("--workers", "2", env=env, wait_ok=False)
    try:
        started = time.perf_counter()
        while not (build := httpx.get(again.url + "/healthz").json()["build"]) or build["total"] is None:
            assert time.perf_counter() - started < 60
            time.sleep(0.1)
        assert build["done"] >= kept
    finally:
        again.close()
