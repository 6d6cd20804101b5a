"""The engine on a tiny hand-written catalogue with a fake embedder (tests/fakes.py): ranking
arithmetic, filters and facets, the judge's formula, the API's answers to good and bad input,
the lexical fallback and the live swap, in milliseconds and without the model."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from casefinder.api.app import create_app
from casefinder.config import Settings
from casefinder.corpus.parse import load_corpus
from casefinder.engine import Casefinder, LexicalCasefinder, Problem, Refused
from casefinder.index.analyzer import Analyzer
from casefinder.index.build import build_index
from casefinder.index.manifest import POINTER
from casefinder.live import LiveEngine
from casefinder.search.highlight import highlight
from casefinder.search.judge import FEATURES, Evidence, QueryEvidence, logistic
from casefinder.search.retriever import SearchMode, case_matches
from fakes import FakeEmbedder, write_tiny_corpus

CASES = {
    "droner til broer": "Kolding Kommune",
    "nødkald og vagtcentral om natten": "Vejle Kommune",
    "robot bogfører refusioner": "Aarhus Kommune",
    "servere og netværk i et fælles it-driftscenter": "Ballerup Kommune",
    "medicinudlevering i misbrugsbehandling": "Odense Kommune",
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Settings:
    root = tmp_path_factory.mktemp("tiny")
    return Settings(corpus_dir=write_tiny_corpus(root / "corpus"), index_dir=root / "index", embed_batch_size=8)


@pytest.fixture(scope="module")
def engine(tiny) -> Casefinder:
    embedder = FakeEmbedder()
    return Casefinder(tiny, build_index(tiny, embedder, progress=False), embedder)


@pytest.fixture(scope="module")
def client(engine, tiny):
    with TestClient(create_app(tiny, engine)) as c:
        yield c


@pytest.mark.parametrize("query,municipality", CASES.items())
def test_the_case_that_uses_the_words_comes_first(engine, query, municipality):
    assert engine.search(query, 3).hits[0].case.municipality == municipality


@pytest.mark.parametrize("mode", list(SearchMode))
def test_every_mode_finds_a_case_by_its_own_words(engine, mode):
    hits = engine.retriever.search("droner fotograferer broer", 3, mode=mode).hits
    assert hits[0].case.municipality == "Kolding Kommune"


def test_a_misspelt_mode_is_an_error_not_a_hybrid_search(engine):
    with pytest.raises(ValueError):
        engine.retriever.search("droner", 3, mode="hybird")


def test_fusion_rescales_dense_over_its_top_range_and_bm25_by_its_maximum(engine):
    dense = np.array([0.80, 0.82, 0.84], dtype=np.float32)
    lexical = np.array([0.0, 5.0, 10.0], dtype=np.float32)
    fused = engine.retriever.fuse(dense, lexical, 0.4)
    assert np.allclose(fused, [0.0, 0.4 * 0.5 + 0.6 * 0.5, 1.0])


def test_the_dense_weight_rises_with_the_share_of_unknown_terms(engine):
    low, high = engine.settings.dense_weight, engine.settings.dense_weight_unknown
    assert engine.retriever.dense_weight(1.0) == pytest.approx(low)
    assert engine.retriever.dense_weight(0.0) == pytest.approx(high)
    assert engine.retriever.dense_weight(0.5) == pytest.approx((low + high) / 2)


def test_a_filter_narrows_the_results_and_facets_count_the_result_set(engine):
    from casefinder import schemas

    everything = engine.search("borgere medarbejdere", 10)
    assert everything.facets["municipality"]["Kolding Kommune"] == 1
    narrowed = engine.search("borgere medarbejdere", 10, schemas.Filters(municipality=["Kolding Kommune"]))
    assert [h.case.municipality for h in narrowed.hits] == ["Kolding Kommune"] and narrowed.total == 1


def test_a_case_matches_a_filter_on_any_of_its_municipalities(engine):
    case = next(c for c in engine.corpus.cases if c.municipality == "Ballerup Kommune")
    assert case_matches(case, {"municipality": ["Egedal Kommune"]}) == ("Egedal Kommune" in case.municipalities)
    assert case_matches(case, {"municipality": ["Ballerup Kommune"], "catalogue": ["nye-samarbejder"]})
    assert not case_matches(case, {"catalogue": ["et-andet-katalog"]})


def test_highlighting_marks_the_forms_of_the_query_words_and_escapes_the_rest():
    analyzer = Analyzer([])
    marked = highlight("Dronerne <fotograferer> vagtcentralen", set(analyzer("drone vagtcentral")), analyzer)
    assert marked == "<mark>Dronerne</mark> &lt;fotograferer&gt; <mark>vagtcentralen</mark>"


def _evidence(**query) -> Evidence:
    values = {name: 0.0 for name in QueryEvidence.__dataclass_fields__}
    values.update(vector=np.zeros(1), terms={}, dense_sd=1.0, **query)
    return Evidence(QueryEvidence(**values), dense=0.9, dense_z=2.0, case_z=1.0, lexical=0.5, sentence=0.8)


def test_the_judges_logit_is_its_bias_plus_each_weight_times_its_feature(engine):
    judge, model = engine.retriever.judge, engine.settings.confidence
    evidence = _evidence(english=0.25, known=0.6, sentence_mean=0.7)
    features = evidence.features()
    assert set(features) == set(FEATURES)
    assert features["lexical"] == pytest.approx(0.5 * 0.75) and features["coverage"] == pytest.approx(0.6 * 0.75)
    expected = model.bias + sum(getattr(model, name) * value for name, value in features.items())
    assert judge.logit(evidence) == pytest.approx(expected)


def test_the_judges_features_are_the_weights_of_its_model():
    assert set(FEATURES) == set(Settings().confidence.model_dump()) - {"bias", "relative_power"}


def test_a_hits_confidence_falls_with_its_share_of_the_best_score(engine):
    from casefinder.search.judge import Scored

    judge = engine.retriever.judge
    qvec = engine.embedder.embed_queries(["droner broer"])[0]
    query = judge.query_evidence("droner broer", qvec, engine.retriever.index.analyzer("droner broer"))

    class Hit:
        def __init__(self, score):
            self.score, self.confidence = score, None

    best, half = Hit(1.0), Hit(0.5)
    judge.rate(query, [Scored(0, 0.5, 1.0)], [best, half])
    power = engine.settings.confidence.relative_power
    assert half.confidence == pytest.approx(best.confidence * 0.5**power)
    assert 0 <= best.confidence == pytest.approx(logistic(judge.logit(judge.evidence(query, 0, 0.5))))


def test_search_over_http_returns_the_contracts_fields(client):
    body = client.get("/api/search", params={"q": "droner til broer", "k": 2}).json()
    assert {"query", "took_ms", "no_match", "hits", "confidence", "k", "filters", "degraded"} <= set(body)
    hit = body["hits"][0]
    assert hit["case"]["municipality"] == "Kolding Kommune" and "<mark>" in hit["passage"]["highlight"]
    assert hit["source"]["url"].startswith("/documents/nye-samarbejder?start=") and body["degraded"] is False


@pytest.mark.parametrize(
    "params,status,code",
    [
        ({"q": ""}, 400, "empty_query"),
        ({"q": "   "}, 400, "empty_query"),
        ({"q": "x" * 1001}, 400, "query_too_long"),
        ({"q": "droner", "k": 0}, 400, "invalid_k"),
        ({"q": "droner", "k": "mange"}, 422, "invalid_request"),
        ({"q": "droner", "municipalty": "Vejle Kommune"}, 422, "invalid_request"),
        ({}, 422, "invalid_request"),
    ],
)
def test_bad_search_input_is_a_4xx_with_a_danish_message(client, params, status, code):
    r = client.get("/api/search", params=params)
    assert r.status_code == status and r.json()["error"]["code"] == code and r.json()["error"]["message"]


def test_a_case_is_found_by_id_and_an_unknown_or_malformed_id_is_a_4xx(client, engine):
    case = engine.corpus.cases[0]
    assert client.get(f"/api/cases/{case.id}").json()["case"]["title"] == case.title
    assert client.get("/api/cases/findes-ikke").status_code == 404
    assert client.get("/api/cases/Ikke Et Id").status_code == 400


def test_the_catalogues_are_listed_with_their_counts(client):
    [doc] = client.get("/api/documents").json()
    assert doc["id"] == "nye-samarbejder" and doc["cases"] == 5 and doc["year"] == 2026


def test_healthz_says_the_generation_and_that_no_build_runs(client, engine):
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["generation"] == engine.generation and health["build"] is None
    assert health["documents"] == 1 and health["cases"] == 5


def test_the_admin_routes_are_closed_without_a_key(client):
    assert client.post("/api/index").status_code == 403
    assert client.delete("/api/catalogues/nye-samarbejder").status_code == 403


def test_a_contact_question_answers_with_the_contact(client):
    r = client.post("/api/ask", json={"question": "Hvem er kontaktperson for vagtcentralen i Vejle?"})
    assert r.status_code == 200 and set(r.json()) >= {"answer", "grounded", "citations", "mode"}


def test_the_lexical_fallback_searches_by_bm25_and_says_it_is_degraded(tiny):
    from casefinder import schemas

    fallback = LexicalCasefinder(tiny, load_corpus(tiny.corpus_dir))
    result = fallback.search("droner til broer", 3)
    assert result.degraded and result.hits[0].case.municipality == "Kolding Kommune"
    assert result.hits[0].confidence == 0.0 and not result.no_match
    assert fallback.search("xyzzy", 3).no_match
    filtered = fallback.search("borgere", 5, schemas.Filters(municipality=["Vejle Kommune"]))
    assert [h.case.municipality for h in filtered.hits] == ["Vejle Kommune"]
    with pytest.raises(Refused) as refused:
        fallback.ask("Hvem deler it-drift?")
    assert refused.value.code == "degraded" and refused.value.problem == Problem.UNAVAILABLE
    assert fallback.health()["status"] == "degraded"


def test_a_live_engine_swaps_in_what_is_published_and_keeps_serving_through_a_damaged_pointer(tiny, tmp_path):
    import shutil

    local = tiny.model_copy(update={"corpus_dir": tmp_path / "corpus", "index_dir": tmp_path / "index"})
    shutil.copytree(tiny.corpus_dir, local.corpus_dir)
    embedder = FakeEmbedder()
    live = LiveEngine(local, Casefinder(local, build_index(local, embedder, progress=False), embedder))
    first = live.current().generation
    (local.corpus_dir / "notat.md").write_text("# Notat\n\nFælles indkøb af kontorartikler i tre kommuner.\n", "utf-8")
    second = build_index(local, embedder, progress=False).generation  # as `casefinder add` publishes
    live.refresh()  # what the watcher does once a second
    assert live.current().generation == second != first
    assert len(live.current().corpus.documents) == 2
    (local.index_dir / POINTER).write_bytes(b"\x00 ikke json")
    live.refresh()
    assert live.current().generation  # an engine serves, the last good one until the repair is in
    deadline = time.monotonic() + 30
    while live.building and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live.current().generation not in (first, second)  # the repaired index, swapped in


def test_every_route_in_the_api_docs_says_in_danish_what_it_does(client):
    operations = [op for path in client.get("/openapi.json").json()["paths"].values() for op in path.values()]
    defaults = [op["summary"] for op in operations if re.fullmatch(r"(?:[A-Z][a-z]+ ?)+", op["summary"])]
    assert len(operations) >= 11 and not defaults  # FastAPI's default: "Search Get", "Add Catalogue Route"


@pytest.mark.parametrize("blank", ["\x1c", "\x1f \x85", "\ufeff", " \ufeff\t"])
def test_a_query_of_white_space_by_either_definition_is_empty_to_the_schema_and_the_engine(client, blank):
    pattern = client.get("/openapi.json").json()["components"]["schemas"]["SearchRequest"]["properties"]["q"]["pattern"]
    assert re.search(pattern, blank) is None and re.search(pattern, blank + "droner")
    r = client.post("/api/search", json={"q": blank})
    assert r.status_code == 400 and r.json()["error"]["code"] == "empty_query"
    chat = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": blank}]})
    assert chat.status_code == 400 and chat.json()["error"]["code"] == "no_user_message"


def test_a_contact_question_that_names_a_role_gets_that_contact_first(tiny, tmp_path):
    import shutil

    local = tiny.model_copy(update={"corpus_dir": tmp_path / "corpus", "index_dir": tmp_path / "index"})
    shutil.copytree(tiny.corpus_dir, local.corpus_dir)
    catalogue = local.corpus_dir / "nye-samarbejder.md"
    catalogue.write_text(
        catalogue.read_text("utf-8").replace(
            "Kontakt: Anne Jensen, sygeplejefaglig leder, anje@vejle.dk",
            "Kontakt: Anne Jensen, sygeplejefaglig leder, anje@vejle.dk\n\n"
            "Kontakt: Bo Hansen, økonomikonsulent, boha@vejle.dk\n\n"
            "Kontakt: Eva Lund, ældrechef, evlu@vejle.dk",
        ),
        "utf-8",
    )
    embedder = FakeEmbedder()
    engine = Casefinder(local, build_index(local, embedder, progress=False), embedder)
    assert len(engine.corpus.cases[0].contacts) == 3
    answer = engine.answerer._asked_for_first("Hvem er ældrechef for vagtcentralen?", engine.corpus.cases[0].contacts)
    assert answer[0].name == "Eva Lund"
    unasked = engine.answerer._asked_for_first("Hvem kan jeg kontakte?", engine.corpus.cases[0].contacts)
    assert [c.name for c in unasked] == ["Anne Jensen", "Bo Hansen", "Eva Lund"]


def test_the_page_says_when_search_runs_without_the_vectors_and_marks_no_hit_weak(tiny):
    fallback = LexicalCasefinder(tiny, load_corpus(tiny.corpus_dir))
    with TestClient(create_app(tiny, fallback)) as c:
        page = c.get("/", params={"q": "droner til broer"}).text
    assert "kun ordsøgning" in page and "Kolding Kommune" in page and "Svagt match" not in page
