"""A damaged or contested index folder and a messy corpus folder: never a broken index served,
never a file lost, never a silent wrong id. On a tiny corpus, so each build takes seconds."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient

from casefinder.api.app import create_app
from casefinder.corpus.parse import CorpusError, load_corpus
from casefinder.index.store import MANIFEST, IndexUnavailable, build_index, load_index

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


def test_a_rebuild_removes_only_what_builds_wrote(tiny, engine):
    first = build_index(tiny, engine.embedder, progress=False)
    (tiny.index_dir / "LÆSMIG.txt").write_text("noter fra driften")
    rechunked = tiny.model_copy(update={"chunk_size": 700})
    second = build_index(rechunked, engine.embedder, progress=False)
    names = {p.name for p in tiny.index_dir.iterdir()}
    assert "LÆSMIG.txt" in names
    assert set(first.manifest["files"].values()).isdisjoint(names)
    assert set(second.manifest["files"].values()) <= names


def test_a_killed_build_resumes_where_it_stopped(tiny, engine, monkeypatch):
    from casefinder.index import store

    monkeypatch.setattr(store, "SAVE_EVERY", 4)  # saved after every second batch of two
    dying = Counting(engine.embedder, die_after=3)
    with pytest.raises(KeyboardInterrupt):
        build_index(tiny.model_copy(update={"embed_batch_size": 2}), dying, progress=False)
    assert dying.passages == 6 and list(tiny.index_dir.glob("embedded-*.npz"))
    resumed = Counting(engine.embedder)
    index = build_index(tiny, resumed, progress=False)
    texts = len(index.chunks) + len(index.case_ids) + len(index.sentence_vectors)  # per chunk, case and sentence
    assert resumed.passages == texts - 4 == index.manifest["embedded_now"]
    assert not list(tiny.index_dir.glob("embedded-*.npz"))


def test_two_builds_at_once_take_turns(tiny, engine):
    a, b = Counting(engine.embedder), Counting(engine.embedder)
    threads = [threading.Thread(target=build_index, args=(tiny, e), kwargs={"progress": False}) for e in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    manifest = json.loads((tiny.index_dir / MANIFEST).read_text())
    assert sorted([a.passages, b.passages]) == [0, manifest["chunks"] + manifest["cases"] + manifest["sentences"]]


def _truncate_chunks(index_dir, files):
    path = index_dir / files["chunks"]
    path.write_text(json.dumps(json.loads(path.read_text())[:-1]))


def _truncate_vectors(index_dir, files):
    path = index_dir / files["vectors"]
    path.write_bytes(path.read_bytes()[:1000])


def test_damaged_vectors_are_embedded_again_never_reused(tiny, engine):
    # 64 flipped bytes inside one stored vector: the rebuild must not take it from the damaged file.
    built = build_index(tiny, engine.embedder, progress=False)
    path = tiny.index_dir / built.manifest["files"]["vectors"]
    data = bytearray(path.read_bytes())
    at = 128 + 2 * built.vectors.shape[1] * 4
    data[at : at + 64] = bytes(b ^ 0xFF for b in data[at : at + 64])
    path.write_bytes(bytes(data))
    index = load_index(tiny, engine.embedder, progress=False)
    assert index.manifest["embedded_now"] > 0
    assert np.allclose(np.linalg.norm(index.vectors, axis=1), 1.0, atol=1e-3)
    assert np.allclose(index.vectors, built.vectors)


def _drop_files(index_dir, files):
    manifest = json.loads((index_dir / MANIFEST).read_text())
    del manifest["files"]
    (index_dir / MANIFEST).write_text(json.dumps(manifest))


def _garbage_manifest(index_dir, files):
    (index_dir / MANIFEST).write_bytes(b"\x00\xffikke json")


@pytest.mark.parametrize("damage", [_truncate_chunks, _truncate_vectors, _drop_files, _garbage_manifest])
def test_a_damaged_index_is_rebuilt_or_refused_never_served(tiny, engine, damage):
    built = build_index(tiny, engine.embedder, progress=False)
    damage(tiny.index_dir, built.manifest["files"])
    with pytest.raises(IndexUnavailable, match="casefinder index"):
        load_index(tiny, engine.embedder, rebuild=False)
    index = load_index(tiny, engine.embedder, progress=False)
    assert len(index.chunks) == len(index.vectors) == len(built.chunks)
    assert np.allclose(index.vectors, built.vectors)


def _manifest(corpus_dir, *entries):
    (corpus_dir / "catalogues.toml").write_text("\n".join(
        "[[catalogue]]\n" + "\n".join(f'{k} = "{v}"' for k, v in entry.items()) + "\n" for entry in entries
    ), "utf-8")


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


def test_an_unlisted_file_gets_a_valid_id_and_working_links(tiny, engine):
    corpus = tiny.corpus_dir
    (corpus / "lille.md").rename(corpus / "Min Kommune – Katalog 2024.md")
    (corpus / "nuller.txt").write_bytes(b"\x00" * 4096)
    loaded = load_corpus(corpus)
    assert [d.id for d in loaded.documents] == ["min-kommune-katalog-2024"]
    assert any("nuller.txt" in w and "NUL" in w for w in loaded.warnings)
    index = build_index(tiny, engine.embedder, progress=False)
    from casefinder.engine import Casefinder

    local = Casefinder(tiny, index, engine.embedder)
    with TestClient(create_app(tiny, local)) as c:
        hit = c.get("/api/search", params={"q": "samarbejde"}).json()["hits"][0]
        assert c.get(hit["source"]["url"]).status_code == 200


def test_a_broken_manifest_on_rebuild_is_a_clear_error_and_the_index_stays(engine, tiny):
    corpus = tiny.corpus_dir
    (corpus / "catalogues.toml").write_text("[[catalogue]\nid = ", "utf-8")
    locked = tiny.model_copy(update={"api_key": "hemmelig"})
    with TestClient(create_app(locked, engine)) as c:
        r = c.post("/api/index", headers={"X-API-Key": "hemmelig"})
        assert r.status_code == 422 and "catalogues.toml" in r.json()["error"]["message"]
        assert c.get("/api/search", params={"q": "it-drift"}).status_code == 200
