"""The HTTP API of ../shared/API.md against the real index."""

import re

import pytest

from conftest import ODENSE_ID

pytestmark = pytest.mark.corpus  # the bundled corpus, its index and the real model


def test_search_get_follows_the_contract(client):
    r = client.get("/api/search", params={"q": "samarbejde om medicinudlevering", "k": 3})
    assert r.status_code == 200
    body = r.json()
    assert {"query", "took_ms", "no_match", "hits"} <= set(body)
    hit = body["hits"][0]
    assert {"rank", "score", "confidence", "case", "passage", "source"} <= set(hit)
    assert {"id", "title", "municipality", "catalogue", "kind", "organisations"} <= set(hit["case"])
    assert hit["case"]["kind"] in {"case", "proposal", "section"}
    assert all(0 <= h["confidence"] <= 1 for h in body["hits"]) and hit["confidence"] >= 0.5
    assert {"text", "highlight"} <= set(hit["passage"])
    assert {"document", "sha256", "start", "end", "page", "url"} <= set(hit["source"])
    assert hit["case"]["id"] == ODENSE_ID and len(body["hits"]) == 3
    src = hit["source"]
    assert src["url"] == f"/documents/{src['document']}?start={src['start']}&end={src['end']}#passage"


def test_several_passages_per_case_on_request(client):
    r = client.get("/api/search", params={"q": "medicinudlevering Odense", "k": 5, "per_case": "false"})
    ids = [h["case"]["id"] for h in r.json()["hits"]]
    assert len(ids) == 5 and len(set(ids)) < 5


def test_search_post_with_filters(client):
    r = client.post("/api/search", json={"q": "indkøb", "k": 5, "filters": {"catalogue": ["kl-samarbejde-2019"]}})
    assert r.status_code == 200
    assert {h["case"]["catalogue"] for h in r.json()["hits"]} == {"kl-samarbejde-2019"}
    r = client.get("/api/search", params={"q": "indkøb", "area": "Eksterne samarbejder"})
    assert r.json()["hits"] and all(h["case"]["area"] == "Eksterne samarbejder" for h in r.json()["hits"])
    r = client.get("/api/search", params={"q": "indkøb", "municipality": "Ingen Kommune"})
    assert r.status_code == 200 and r.json()["hits"] == []


def test_source_offsets_and_sha_match_the_corpus_file(client, settings):
    import hashlib

    hit = client.get("/api/search", params={"q": "en stressenhed for kommunens ansatte", "k": 1}).json()["hits"][0]
    path = next(p for p in settings.corpus_dir.iterdir() if p.stem == hit["source"]["document"])
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hit["source"]["sha256"]
    text = open(path, encoding="utf-8", newline="").read()
    passage = text[hit["source"]["start"] : hit["source"]["end"]]
    assert "stressenhed" in passage.lower().replace("-\n", "")


def test_case_detail_with_similar_cases(client):
    body = client.get(f"/api/cases/{ODENSE_ID}").json()
    assert body["case"]["municipality"] == "Odense Kommune"
    assert "medicinudlevering" in body["text"]
    assert body["case"]["contacts"][0]["email"] == "nian@odense.dk"
    assert len(body["similar"]) == 5
    assert body["source"]["start"] < body["source"]["end"]


def test_documents_and_health(client):
    docs = client.get("/api/documents").json()
    assert len(docs) == 5 and all({"id", "title", "year", "sha256", "cases"} <= set(d) for d in docs)
    assert client.get("/healthz").json()["status"] == "ok"


def test_viewer_highlights_the_passage_as_one_block(client):
    hit = client.get("/api/search", params={"q": "samarbejde om medicinudlevering", "k": 1}).json()["hits"][0]
    page = client.get(hit["source"]["url"].split("#")[0])
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert page.text.count('id="passage"') == 1
    block = page.text.split('<div class="marked" id="passage">', 1)[1].split("</div>", 1)[0]
    marked = " ".join(re.findall(r"<mark>(.*?)</mark>", block, re.S))
    assert hit["passage"]["text"].split()[0] in marked and hit["passage"]["text"].split()[-1] in marked
    assert "<div" not in block  # one block: paragraphs inside it, no nested boxes


def test_a_filter_that_leaves_only_weak_cases_says_so_and_can_be_removed(client):
    query = "fælles it-drift mellem flere kommuner"
    weak = [h for h in client.get("/api/search", params={"q": query, "k": 50}).json()["hits"] if h["confidence"] < 0.01]
    catalogue = next(
        h["case"]["catalogue"]
        for h in weak[::-1]
        if client.get("/api/search", params={"q": query, "catalogue": h["case"]["catalogue"]}).json()["no_match"]
    )
    page = client.get("/", params={"q": query, "catalogue": catalogue}).text
    assert "med de valgte filtre" in page and "Fjern et filter" in page
    assert 'class="chip"' in page


def test_facet_counts_are_what_choosing_the_facet_shows(client):
    body = client.get("/api/search", params={"q": "fælles indkøb", "k": 50}).json()
    assert body["total"] == len(body["hits"])
    for facet in ("municipality", "catalogue", "kind"):
        for value, count in sorted(body["facets"][facet].items(), key=lambda kv: -kv[1])[:3]:
            narrowed = client.get("/api/search", params={"q": "fælles indkøb", "k": 50, facet: value}).json()
            assert narrowed["total"] == len(narrowed["hits"]) == count, (facet, value)


def test_similar_cases_are_cases_and_proposals_only(client, engine):
    for case in engine.corpus.cases[::25]:
        similar = client.get(f"/api/cases/{case.id}").json()["similar"]
        assert similar and all(s["case"]["kind"] in {"case", "proposal"} for s in similar)


def test_links_are_absolute_when_a_public_address_is_configured(engine):
    from fastapi.testclient import TestClient

    from casefinder.api.app import create_app
    from casefinder.engine import Casefinder

    settings = engine.settings.model_copy(update={"public_base_url": "https://casefinder.example.dk"})
    public = Casefinder(settings, engine.index, engine.embedder)
    with TestClient(create_app(settings, public)) as c:
        hit = c.get("/api/search", params={"q": "medicinudlevering", "k": 1}).json()["hits"][0]
        assert hit["source"]["url"].startswith("https://casefinder.example.dk/documents/")
        chat = c.post(
            "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "Hvem udleverer medicin i weekenden i Odense?"}]},
        ).json()
        assert "(https://casefinder.example.dk/documents/" in chat["choices"][0]["message"]["content"]


def test_a_public_address_must_be_absolute():
    from pydantic import ValidationError

    from casefinder.config import Settings

    with pytest.raises(ValidationError):
        Settings(public_base_url="casefinder.example.dk")
    assert Settings(public_base_url="https://x.dk/").public_base_url == "https://x.dk"


def test_viewer_has_page_anchors_for_paged_layouts(client):
    page = client.get("/documents/kl-kommunale-veje-2017")
    assert 'id="page-86"' in page.text


def test_metrics_in_prometheus_format(client):
    client.get("/api/search", params={"q": "indkøb"})
    text = client.get("/metrics").text
    assert 'casefinder_requests_total{path="/api/search",status="200"}' in text
    assert "casefinder_index_chunks" in text


def test_openapi_docs(client):
    assert client.get("/docs").status_code == 200
    assert "/api/search" in client.get("/openapi.json").json()["paths"]


BAD_INPUTS = [
    ("get", "/api/search", {"params": {"q": ""}}, 400, "empty_query"),
    ("get", "/api/search", {"params": {"q": "   "}}, 400, "empty_query"),
    ("get", "/api/search", {}, 422, "invalid_request"),  # q missing
    ("post", "/api/search", {"json": {"q": "x" * 100_000}}, 413, "query_too_long"),
    ("get", "/api/search", {"params": {"q": "x" * 1001}}, 400, "query_too_long"),
    ("get", "/api/search", {"params": {"q": "it", "k": 0}}, 400, "invalid_k"),
    ("get", "/api/search", {"params": {"q": "it", "k": 10**9}}, 400, "invalid_k"),
    ("get", "/api/search", {"params": {"q": "it", "k": "ti"}}, 422, "invalid_request"),
    (
        "post",
        "/api/search",
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
        422,
        "invalid_request",
    ),
    ("post", "/api/search", {"json": {"q": 42}}, 422, "invalid_request"),
    ("post", "/api/search", {"json": {"q": "it", "k": "mange"}}, 422, "invalid_request"),
    ("post", "/api/search", {"json": ["q"]}, 422, "invalid_request"),
    ("post", "/api/search", {"json": {"q": "it", "filters": {"municipality": "Odense"}}}, 422, "invalid_request"),
    ("get", "/api/cases/..%2F..%2Fetc%2Fpasswd", {}, 404, "not_found"),  # "/" never reaches the route
    ("get", "/api/cases/..%5C..%5Cetc", {}, 400, "invalid_id"),
    ("get", "/api/cases/Odense Kommune", {}, 400, "invalid_id"),
    ("get", "/api/cases/findes-ikke", {}, 404, "not_found"),
    ("get", "/documents/..%2Fpyproject.toml", {}, 404, "not_found"),
    ("get", "/documents/.pyproject", {}, 400, "invalid_id"),
    ("get", "/documents/kl-samarbejde-2019", {"params": {"start": 10, "end": 5}}, 400, "invalid_span"),
    ("get", "/documents/kl-samarbejde-2019", {"params": {"start": 0, "end": 10**9}}, 400, "invalid_span"),
    ("post", "/api/ask", {"json": {"question": ""}}, 400, "empty_query"),
    ("post", "/api/ask", {"json": {"question": "it", "k": 0}}, 400, "invalid_k"),
    ("post", "/v1/chat/completions", {"json": {"messages": []}}, 400, "no_user_message"),
    ("delete", "/api/search", {}, 405, "method_not_allowed"),
    ("get", "/api/nothing-here", {}, 404, "not_found"),
]


@pytest.mark.parametrize(
    "method,path,kwargs,status,code", BAD_INPUTS, ids=[f"{m} {p} {c}" for m, p, _, _, c in BAD_INPUTS]
)
def test_bad_input_gets_a_4xx_with_the_contract_error(client, method, path, kwargs, status, code):
    r = client.request(method.upper(), path, **kwargs)
    assert r.status_code == status
    error = r.json()["error"]
    assert error["code"] == code
    assert error["message"] and "Traceback" not in error["message"]


def test_a_bad_request_does_not_disturb_the_next(client):
    assert client.get("/api/search", params={"q": "it", "k": 0}).status_code == 400
    assert client.get("/api/search", params={"q": "fælles it-drift"}).status_code == 200


def test_write_routes_require_the_api_key_when_configured(engine, settings):
    from fastapi.testclient import TestClient

    from casefinder.api.app import create_app

    locked = settings.model_copy(update={"api_key": "hemmelig"})
    with TestClient(create_app(locked, engine)) as c:
        assert c.post("/api/ask", json={"question": "it-drift"}).status_code == 401
        assert (
            c.post("/api/ask", json={"question": "it-drift"}, headers={"Authorization": "Bearer hemmelig"}).status_code
            == 200
        )
        assert c.get("/api/search", params={"q": "it-drift"}).status_code == 200  # reading stays open
        assert c.get("/metrics").status_code == 401  # operators scrape it with the key
        assert c.get("/metrics", headers={"Authorization": "Bearer hemmelig"}).status_code == 200


def test_search_page_without_javascript(client):
    page = client.get("/", params={"q": "samarbejde om medicinudlevering", "municipality": "Odense Kommune"})
    assert page.status_code == 200 and '<html lang="da">' in page.text
    assert "Odense Kommune: Samarbejde mellem" in page.text and "Åbn i kataloget" in page.text
    assert "Odense Kommune" in page.text.split('class="chips"', 1)[1][:400]  # the chosen facet as a chip
    assert "Prøv for eksempel" in client.get("/").text
    assert "højst 1000 tegn" in client.get("/", params={"q": "x" * 1200}).text


def test_search_page_answers_questions_and_lists_similar_cases(client):
    page = client.get("/", params={"q": "Hvilke kommuner deler it-drift?"})
    assert 'class="answer"' in page.text and "[1]" in page.text
    similar = client.get("/", params={"similar": ODENSE_ID})
    assert similar.text.count('class="card"') == 10 and "Lignende: Odense Kommune" in similar.text


def test_one_structured_log_line_per_request_without_the_query(client, caplog):
    import json
    import logging

    with caplog.at_level(logging.INFO, logger="casefinder.access"):
        client.get("/api/search", params={"q": "hemmelig sag om tandpleje", "k": 3})
    records = [json.loads(r.getMessage()) for r in caplog.records if r.name == "casefinder.access"]
    assert records == [{"method": "GET", "path": "/api/search", "status": 200, "ms": records[0]["ms"], "hits": 3}]
    assert "tandpleje" not in caplog.text
