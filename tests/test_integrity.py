"""A damaged or contested index folder and a messy corpus folder: never a broken index served,
never a file lost, never a silent wrong id. On a tiny corpus with the fake embedder
(tests/fakes.py), so each build takes milliseconds."""

from __future__ import annotations

import json
import logging
import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient

from casefinder.api.app import create_app
from casefinder.corpus.parse import CorpusError, load_corpus
from casefinder.engine import Casefinder
from casefinder.index.build import CACHE, build_index, load_index
from casefinder.index.cache import EmbeddingCache
from casefinder.index.generation import DESCRIPTION, FILES
from casefinder.index.manifest import GENERATIONS, POINTER, IndexUnavailable, read_pointer
from fakes import FakeEmbedder

SOURCE = "kl-samarbejdende-kommuner-2018.md"


@pytest.fixture()
def tiny(settings, tmp_path):
    """A corpus of one short catalogue: the first part of a bundled one."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    text = (settings.corpus_dir / SOURCE).read_text("utf-8")
    (corpus / "lille.md").write_text(text[: text.index("\n", 9000)], "utf-8")
    return settings.model_copy(update={"corpus_dir": corpus, "index_dir": tmp_path / "index", "embed_batch_size": 4})


class Counting:
    """The real embedder, counting passages; optionally dying after some batches."""

    def __init__(self, embedder, die_after: int | None = None):
        self.embedder, self.die_after, self.batches, self.passages = embedder, die_after, 0, 0
        self.model_id = embedder.model_id

    def embed_passages(self, texts):
        if self.die_after is not None and self.batches >= self.die_after:
            raise KeyboardInterrupt("killed")
        self.batches += 1
        self.passages += len(texts)
        return self.embedder.embed_passages(texts)


def _generation(settings, index=None):
    return (
        settings.index_dir
        / GENERATIONS
        / (index.generation if index else read_pointer(settings.index_dir)["generation"])
    )


def test_a_build_keeps_the_one_before_as_fallback_and_removes_only_older_builds(tiny):
    first = build_index(tiny, FakeEmbedder(), progress=False)
    (tiny.index_dir / "LÆSMIG.txt").write_text("noter fra driften")
    second = build_index(tiny.model_copy(update={"chunk_size": 700}), FakeEmbedder(), progress=False)
    assert read_pointer(tiny.index_dir) == {"generation": second.generation, "previous": first.generation}
    third = build_index(tiny, FakeEmbedder(), progress=False)
    assert {p.name for p in (tiny.index_dir / GENERATIONS).iterdir()} == {second.generation, third.generation}
    assert (tiny.index_dir / "LÆSMIG.txt").exists()
    assert third.manifest["embedded_now"] == 0  # the first build's vectors stayed in the cache


def test_a_killed_build_resumes_where_it_stopped(tiny):
    dying = Counting(FakeEmbedder(), die_after=3)
    with pytest.raises(KeyboardInterrupt):
        build_index(tiny.model_copy(update={"embed_batch_size": 2}), dying, progress=False)
    assert dying.passages == 6 and len(EmbeddingCache(tiny.index_dir / CACHE).read()) == 6
    assert read_pointer(tiny.index_dir) is None  # nothing half-built is published
    resumed = Counting(FakeEmbedder())
    index = build_index(tiny, resumed, progress=False)
    texts = len(index.chunks) + len(index.case_ids) + len(index.sentence_vectors)  # per chunk, case and sentence
    assert resumed.passages == texts - 6 == index.manifest["embedded_now"]
    assert len(EmbeddingCache(tiny.index_dir / CACHE).segments()) <= 8


def test_a_build_asked_to_stop_stops_between_batches_and_keeps_its_vectors(tiny):
    from casefinder.index.build import BuildStopped

    stop = threading.Event()

    class Stopping(Counting):
        def embed_passages(self, texts):
            if self.batches == 1:
                stop.set()  # SIGTERM arrives while the second batch is embedded
            return super().embed_passages(texts)

    stopping = Stopping(FakeEmbedder())
    with pytest.raises(BuildStopped):
        build_index(tiny.model_copy(update={"embed_batch_size": 3}), stopping, progress=False, stop=stop)
    assert stopping.batches == 2 and len(EmbeddingCache(tiny.index_dir / CACHE).read()) == 6
    assert not (tiny.index_dir / ".build-progress.json").exists()


def test_two_builds_at_once_take_turns(tiny):
    a, b = Counting(FakeEmbedder()), Counting(FakeEmbedder())
    threads = [threading.Thread(target=build_index, args=(tiny, e), kwargs={"progress": False}) for e in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    built = json.loads((_generation(tiny) / DESCRIPTION).read_text())
    assert sorted([a.passages, b.passages]) == [0, built["chunks"] + built["cases"] + built["sentences"]]


def _flip(path, at, n=64):
    data = bytearray(path.read_bytes())
    data[at : at + n] = bytes(b ^ 0xFF for b in data[at : at + n])
    path.write_bytes(bytes(data))


def test_damaged_served_vectors_are_rebuilt_from_the_cache_never_reused(tiny):
    built = build_index(tiny, FakeEmbedder(), progress=False)
    _flip(_generation(tiny, built) / FILES["vectors"], 128 + 2 * built.vectors.shape[1] * 4)
    counting = Counting(FakeEmbedder())
    index = load_index(tiny, counting, progress=False)
    assert counting.passages == 0 and index.generation != built.generation
    assert np.allclose(index.vectors, built.vectors)


def test_damaged_vectors_are_embedded_again_when_the_cache_lost_them_too(tiny):
    # 64 flipped bytes inside one stored vector, and no cache: the rebuild must not take it from the damaged file.
    built = build_index(tiny, FakeEmbedder(), progress=False)
    _flip(_generation(tiny, built) / FILES["vectors"], 128 + 2 * built.vectors.shape[1] * 4)
    for segment in EmbeddingCache(tiny.index_dir / CACHE).segments():
        segment.unlink()
    index = load_index(tiny, FakeEmbedder(), progress=False)
    assert index.manifest["embedded_now"] == len(built.vectors) + len(built.case_vectors) + len(built.sentence_vectors)
    assert np.allclose(np.linalg.norm(index.vectors, axis=1), 1.0, atol=1e-3)
    assert np.allclose(index.vectors, built.vectors, atol=5e-3)


def test_a_damaged_cache_segment_costs_only_its_own_vectors(tiny):
    small = tiny.model_copy(update={"embed_batch_size": 50})
    build_index(small, FakeEmbedder(), progress=False)
    (tiny.index_dir / POINTER).unlink()  # no generation to take vectors back from
    segment = EmbeddingCache(tiny.index_dir / CACHE).segments()[0]
    with np.load(segment) as data:
        lost = len(data["keys"])
    _flip(segment, 200, 8)
    counting = Counting(FakeEmbedder())
    load_index(tiny, counting, progress=False)
    assert counting.passages == lost


def _truncate_chunks(generation):
    path = generation / FILES["chunks"]
    path.write_text(json.dumps(json.loads(path.read_text())[:-1]))


def _truncate_vectors(generation):
    path = generation / FILES["vectors"]
    path.write_bytes(path.read_bytes()[:1000])


def _drop_file_list(generation):
    described = json.loads((generation / DESCRIPTION).read_text())
    del described["sha256"]
    (generation / DESCRIPTION).write_text(json.dumps(described))


def _garbage_pointer(generation):
    (generation.parents[1] / POINTER).write_bytes(b"\x00\xffikke json")


@pytest.mark.parametrize("damage", [_truncate_chunks, _truncate_vectors, _drop_file_list, _garbage_pointer])
def test_a_damaged_index_is_rebuilt_from_the_cache_or_refused_never_served(tiny, damage):
    built = build_index(tiny, FakeEmbedder(), progress=False)
    damage(_generation(tiny, built))
    with pytest.raises(IndexUnavailable, match="casefinder index"):
        load_index(tiny, FakeEmbedder(), rebuild=False)
    index = load_index(tiny, FakeEmbedder(), progress=False)
    assert index.manifest["embedded_now"] == 0
    assert len(index.chunks) == len(index.vectors) == len(built.chunks)
    assert np.allclose(index.vectors, built.vectors)


def _manifest(corpus_dir, *entries):
    (corpus_dir / "catalogues.toml").write_text(
        "\n".join("[[catalogue]]\n" + "\n".join(f'{k} = "{v}"' for k, v in entry.items()) + "\n" for entry in entries),
        "utf-8",
    )


def test_two_catalogues_with_one_id_are_refused_naming_both(tiny):
    corpus = tiny.corpus_dir
    (corpus / "anden.md").write_text((corpus / "lille.md").read_text("utf-8"), "utf-8")
    _manifest(corpus, {"id": "samme", "file": "lille.md"}, {"id": "samme", "file": "anden.md"})
    with pytest.raises(CorpusError, match=r"lille\.md.*anden\.md"):
        load_corpus(corpus)


def test_an_entry_without_a_file_is_a_clear_error(tiny):
    _manifest(tiny.corpus_dir, {"id": "uden-fil", "title": "Ingen fil"})
    with pytest.raises(CorpusError, match="mangler 'file'"):
        load_corpus(tiny.corpus_dir)


def test_an_unlisted_file_gets_a_valid_id_and_working_links(tiny):
    corpus = tiny.corpus_dir
    (corpus / "lille.md").rename(corpus / "Min Kommune – Katalog 2024.md")
    (corpus / "nuller.txt").write_bytes(b"\x00" * 4096)
    loaded = load_corpus(corpus)
    assert [d.id for d in loaded.documents] == ["min-kommune-katalog-2024"]
    assert any("nuller.txt" in w and "NUL" in w for w in loaded.warnings)
    embedder = FakeEmbedder()
    local = Casefinder(tiny, build_index(tiny, embedder, progress=False), embedder)
    with TestClient(create_app(tiny, local)) as c:
        hit = c.get("/api/search", params={"q": "samarbejde"}).json()["hits"][0]
        assert c.get(hit["source"]["url"]).status_code == 200


def test_a_broken_manifest_on_rebuild_is_a_clear_error_and_the_index_stays(tiny):
    embedder = FakeEmbedder()
    engine = Casefinder(tiny, build_index(tiny, embedder, progress=False), embedder)
    (tiny.corpus_dir / "catalogues.toml").write_text("[[catalogue]\nid = ", "utf-8")
    locked = tiny.model_copy(update={"api_key": "hemmelig"})
    with TestClient(create_app(locked, engine)) as c:
        r = c.post("/api/index", headers={"X-API-Key": "hemmelig"})
        assert r.status_code == 422 and "catalogues.toml" in r.json()["error"]["message"]
        assert c.get("/api/search", params={"q": "it-drift"}).status_code == 200


def test_what_the_parser_says_of_a_file_is_said_once_by_the_build_that_takes_it_in(tiny, caplog):
    (tiny.corpus_dir / "notat.txt").write_text(
        "Et notat\n\nOm fælles indkøb af kontorartikler i tre kommuner. " * 20, "utf-8"
    )
    with caplog.at_level(logging.WARNING):
        build_index(tiny, FakeEmbedder(), progress=False)
    assert sum("notat.txt: ukendt layout" in r.message for r in caplog.records) == 1
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        build_index(tiny.model_copy(update={"chunk_size": 800}), FakeEmbedder(), progress=False)
        load_corpus(tiny.corpus_dir)
    assert not any("notat.txt" in r.message for r in caplog.records)
