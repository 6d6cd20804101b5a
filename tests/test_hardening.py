"""What a hostile or broken peer cannot do: no 5xx from client input, closed by default,
bounded work, and a misbehaving LLM that never breaks an answer."""

from __future__ import annotations

import json
import re
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from casefinder.api.app import create_app
from casefinder.engine import Casefinder
from servers import AppServer, FakeLLM

pytestmark = pytest.mark.corpus  # the bundled corpus, its index and the real model

QUESTION = "Hvem udleverer medicin i weekenden i Odense?"
SURROGATE = '"\\ud800"'  # a lone surrogate, escaped as JSON allows


def raw_json(template: str) -> dict:
    return {
        "content": template.replace("SURROGATE", SURROGATE).encode(),
        "headers": {"content-type": "application/json"},
    }


@pytest.mark.parametrize(
    "path,template",
    [
        ("/api/search", '{"q": SURROGATE}'),
        ("/api/search", '{"q": "it-drift", "filters": {"municipality": [SURROGATE]}}'),
        ("/api/ask", '{"question": SURROGATE}'),
        ("/api/ask", '{"question": SURROGATE, "stream": true}'),
        ("/v1/chat/completions", '{"messages": [{"role": "user", "content": SURROGATE}]}'),
        (
            "/v1/chat/completions",
            '{"stream": true, "messages": [{"role": "user", "content": [{"type": "text", "text": SURROGATE}]}]}',
        ),
    ],
)
def test_a_lone_surrogate_is_a_400_and_the_connection_stays_usable(engine, path, template):
    server = AppServer(create_app(engine.settings, engine))
    try:
        with httpx.Client(base_url=server.url) as http:  # one keep-alive connection
            r = http.post(path, **raw_json(template))
            assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_text"
            assert http.get("/api/search", params={"q": "it-drift"}).status_code == 200
    finally:
        server.close()


@pytest.mark.parametrize("text", [5, None, ["a"], {"a": 1}])
def test_a_chat_content_part_whose_text_is_not_text_is_a_4xx(client, text):
    r = client.post(
        "/v1/chat/completions", json={"messages": [{"role": "user", "content": [{"type": "text", "text": text}]}]}
    )
    assert 400 <= r.status_code < 500 and r.json()["error"]["code"]


def test_a_non_ascii_api_key_is_refused_not_a_crash(engine):
    locked = engine.settings.model_copy(update={"api_key": "hemmelig"})
    with TestClient(create_app(locked, engine)) as c:
        for headers in ({"X-API-Key": "nøgle"}, {"Authorization": "Bearer å"}):
            encoded = {k: v.encode("utf-8") for k, v in headers.items()}
            r = c.post("/api/ask", json={"question": "it-drift"}, headers=encoded)
            assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    unicode_key = engine.settings.model_copy(update={"api_key": "nøgle"})
    with TestClient(create_app(unicode_key, engine)) as c:
        r = c.post("/api/ask", json={"question": "it-drift"}, headers={"X-API-Key": "nøgle".encode()})
        assert r.status_code == 200


def test_admin_routes_are_closed_when_no_key_is_configured(client):
    r = client.post("/api/index")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


def test_every_response_carries_security_headers(client):
    for path in ("/", "/api/search?q=it-drift", "/docs", "/documents/kl-samarbejde-2019"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        script = re.search(r"script-src ([^;]*)", csp).group(1)
        assert "'unsafe-inline'" not in script and "frame-ancestors 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY" and headers["referrer-policy"]


def test_api_docs_work_offline(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and not [a for a in assets if a.startswith(("http:", "https:", "//"))]
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    # Swagger's inline start-up script runs under the CSP because its hash is allowed.
    import base64
    import hashlib

    inline = re.findall(r"<script>(.*?)</script>", page.text, re.S)
    csp = page.headers["content-security-policy"]
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp


def test_huge_filter_lists_and_bodies_are_refused_at_once(client):
    started = time.perf_counter()
    r = client.post("/api/search", json={"q": "it-drift", "filters": {"municipality": ["Odense Kommune"] * 5000}})
    assert r.status_code == 422 and r.json()["error"]["code"] == "too_many_values"
    r = client.post(
        "/api/search", content=b'{"q": "' + b"x" * 2_000_000 + b'"}', headers={"content-type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
    assert time.perf_counter() - started < 5


def test_an_unexpected_error_is_counted_and_logged(client, engine, monkeypatch, caplog):
    def broken():
        raise RuntimeError("kaput")

    monkeypatch.setattr(engine, "documents", broken)
    with caplog.at_level("INFO", logger="casefinder.access"):
        r = client.get("/api/documents")
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    assert any(
        json.loads(rec.getMessage())["status"] == 500 for rec in caplog.records if rec.name == "casefinder.access"
    )
    metrics = client.get("/metrics").text
    assert re.search(r'casefinder_requests_total\{path="/api/documents",status="500"\} 1', metrics)


# ---------------------------------------------------------------- a misbehaving LLM


@pytest.fixture()
def upstream(engine):
    fakes = []

    def make(timeout=5.0, **behaviour):
        fake = FakeLLM(**behaviour)
        fakes.append(fake)
        settings = engine.settings.model_copy(
            update={"llm_base_url": fake.url, "llm_timeout": timeout, "llm_model": "test"}
        )
        return Casefinder(settings, engine.index, engine.embedder)

    yield make
    for fake in fakes:
        fake.close()


def choice(**message):
    return {"choices": [{"index": 0, "message": {"role": "assistant", **message}}]}


@pytest.mark.parametrize(
    "body",
    [
        choice(content=5),
        choice(content=[{"type": "text", "text": "x"}]),
        {"choices": None},
        {"choices": []},
        {"nothing": True},
        [1, 2],
    ],
)
def test_a_malformed_llm_answer_falls_back_to_extractive(upstream, body):
    answer = upstream(body=body).ask(QUESTION)
    assert answer.mode == "extractive" and answer.grounded and answer.note


@pytest.mark.parametrize(
    "events",
    [
        [{"choices": [{"index": 0, "delta": None}]}],
        [{"choices": None}],
        [{"choices": [{"index": 0, "delta": {"content": 5}}]}],
        ["not json at all"],
    ],
)
def test_a_malformed_llm_stream_still_ends_with_done(upstream, events):
    streamed = list(upstream(events=events).ask_stream(QUESTION))
    assert streamed[-1][0] == "done" and streamed[-1][1]["grounded"]


def test_an_azure_style_stream_is_understood(upstream):
    events = [{"choices": [], "prompt_filter_results": []}] + [
        {"choices": [{"index": 0, "delta": {"content": piece}}]}
        for piece in ("Akutteamet udleverer ", "medicinen [1].")
    ]
    streamed = list(upstream(events=events).ask_stream(QUESTION))
    assert streamed[-1][1]["mode"] == "llm" and streamed[-1][1]["answer"] == "Akutteamet udleverer medicinen [1]."


def test_the_llm_timeout_is_a_total_deadline(upstream):
    engine = upstream(timeout=2.0, reply="Akutteamet udleverer medicinen i weekenden [1].", trickle=0.3)
    started = time.perf_counter()
    answer = engine.ask(QUESTION)
    assert time.perf_counter() - started < 4.5
    assert answer.mode == "extractive" and answer.note
    started = time.perf_counter()
    streamed = list(engine.ask_stream(QUESTION))
    assert time.perf_counter() - started < 4.5 and streamed[-1][0] == "done"


def test_the_search_page_never_reaches_the_llm_unless_allowed(engine):
    fake = FakeLLM("Akutteamet udleverer medicinen [1].")
    try:
        configured = engine.settings.model_copy(update={"llm_base_url": fake.url, "llm_model": "test"})
        with TestClient(create_app(configured, Casefinder(configured, engine.index, engine.embedder))) as c:
            page = c.get("/", params={"q": QUESTION})
            assert 'class="answer"' in page.text and not fake.requests
        allowed = configured.model_copy(update={"page_llm": True})
        with TestClient(create_app(allowed, Casefinder(allowed, engine.index, engine.embedder))) as c:
            c.get("/", params={"q": QUESTION})
            assert len(fake.requests) == 1
    finally:
        fake.close()


def test_concurrent_answers_are_bounded_and_health_stays_fast(engine):
    fake = FakeLLM("Akutteamet udleverer medicinen [1].", hang=3)
    settings = engine.settings.model_copy(
        update={"llm_base_url": fake.url, "llm_model": "test", "max_concurrent_answers": 2}
    )
    server = AppServer(create_app(settings, Casefinder(settings, engine.index, engine.embedder)))
    try:
        results = []

        def ask():
            results.append(httpx.post(server.url + "/api/ask", json={"question": QUESTION}, timeout=30))

        threads = [threading.Thread(target=ask) for _ in range(2)]
        for t in threads:
            t.start()
        time.sleep(0.8)  # both are now waiting on the LLM
        busy = httpx.post(server.url + "/api/ask", json={"question": QUESTION}, timeout=30)
        assert (
            busy.status_code == 503 and busy.json()["error"]["code"] == "busy" and int(busy.headers["retry-after"]) >= 1
        )
        started = time.perf_counter()
        assert httpx.get(server.url + "/healthz").status_code == 200
        assert time.perf_counter() - started < 1
        for t in threads:
            t.join()
        assert [r.status_code for r in results] == [200, 200]
    finally:
        server.close()
        fake.close()


def test_a_chunked_body_over_the_limit_is_a_413(engine):
    server = AppServer(create_app(engine.settings, engine))

    def body():  # no Content-Length: sent chunked
        yield b'{"q": "'
        for _ in range(300):
            yield b"x" * 1024
        yield b'"}'

    try:
        for path in ("/api/search", "/api/index"):
            r = httpx.post(server.url + path, content=body(), headers={"content-type": "application/json"})
            assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large", path
        small = httpx.post(
            server.url + "/api/search",
            content=iter([b'{"q": "it-', b'drift"}']),
            headers={"content-type": "application/json"},
        )
        assert small.status_code == 200
    finally:
        server.close()


def test_a_cached_query_never_waits_for_the_model(engine):
    engine.search("fælles it-drift")
    done = threading.Event()
    with engine.retriever._model_lock:  # the model is busy with somebody's long query
        worker = threading.Thread(target=lambda: (engine.search("fælles it-drift"), done.set()))
        worker.start()
        assert done.wait(5)
    worker.join()


def test_error_answers_are_in_the_openapi_schema(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"400", "413"} <= set(paths["/api/search"]["get"]["responses"])
    assert {"400", "401", "503"} <= set(paths["/api/ask"]["post"]["responses"])
    assert {"401", "403", "422"} <= set(paths["/api/index"]["post"]["responses"])
    assert "text/plain" in paths["/metrics"]["get"]["responses"]["200"]["content"]


def test_a_trailing_slash_is_not_redirected_to_the_clients_host(client):
    from conftest import ODENSE_ID

    r = client.get(f"/api/cases/{ODENSE_ID}/", headers={"host": "evil.example"}, follow_redirects=False)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_a_client_that_hangs_up_cancels_the_upstream_call(engine):
    cited = {"choices": [{"index": 0, "delta": {"content": "Akutteamet udleverer medicinen [1]. "}}]}
    fake = FakeLLM(events=[cited] * 300, gap=0.05)  # 15 s of answer if nobody stops it
    settings = engine.settings.model_copy(update={"llm_base_url": fake.url, "llm_model": "test", "llm_timeout": 60})
    server = AppServer(create_app(settings, Casefinder(settings, engine.index, engine.embedder)))
    try:
        with httpx.stream(
            "POST", server.url + "/api/ask", json={"question": QUESTION, "stream": True}, timeout=30
        ) as r:
            assert next(r.iter_lines()).startswith("event: delta")
        assert fake.aborted.wait(5)  # the upstream connection was closed long before the answer ended
    finally:
        server.close()
        fake.close()


@pytest.mark.parametrize(
    "path,body,field",
    [
        ("/api/search", {"q": "hjemmepleje", "filters": {"municipalty": ["Odense Kommune"]}}, "filters.municipalty"),
        ("/api/ask", {"question": "hjemmepleje", "filters": {"bogus": ["x"]}}, "filters.bogus"),
    ],
)
def test_a_misspelt_filter_is_an_error_not_an_unfiltered_search(client, path, body, field):
    r = client.post(path, json=body)
    assert r.status_code == 422 and field in r.json()["error"]["message"]


@pytest.mark.parametrize(
    "path,body,field",
    [
        ("/api/search", {"q": "jobcenter", "municipality": ["Odense Kommune"]}, "municipality"),
        ("/api/ask", {"question": "jobcenter", "catalogue": ["kl-samarbejde-2019"]}, "catalogue"),
    ],
)
def test_a_filter_outside_filters_is_an_error_not_an_unfiltered_search(client, path, body, field):
    r = client.post(path, json=body)
    assert r.status_code == 422 and r.json()["error"]["message"] == f"Ukendt felt '{field}'."


def test_a_misspelt_query_parameter_is_an_error_not_an_unfiltered_search(client):
    r = client.get("/api/search", params={"q": "jobcenter", "municipalty": "Odense Kommune"})
    assert r.status_code == 422 and r.json()["error"]["message"] == "Ukendt parameter 'municipalty'."
    assert (
        client.get("/api/search", params={"q": "jobcenter", "municipality": "Odense Kommune", "k": 3}).status_code
        == 200
    )


@pytest.mark.parametrize(
    "path,body",
    [("/api/search", {"q": "hjemmepleje", "k": True}), ("/api/ask", {"question": "hjemmepleje", "k": True})],
)
def test_k_must_be_a_number_not_true(client, path, body):
    r = client.post(path, json=body)
    assert r.status_code == 422 and r.json()["error"]["message"] == "Feltet 'k' skal være et helt tal."


def test_a_method_not_allowed_says_which_are(client):
    r = client.request("TRACE", "/healthz")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    assert "GET" in r.headers["allow"]


def test_a_5_mb_body_gets_the_413_answer_the_client_can_read(engine):
    """The client is still sending when the limit is passed: the server reads the rest before it
    answers, so the client reads a 413, not a reset connection."""
    server = AppServer(create_app(engine.settings, engine))
    size = 5 * 1024 * 1024

    def slowly():
        for _ in range(size // 65536):
            time.sleep(0.002)
            yield b"x" * 65536

    try:
        for content in (b"x" * size, slowly()):
            r = httpx.post(
                server.url + "/api/search",
                content=content,
                timeout=30,
                headers={"content-type": "application/json", "content-length": str(size)},
            )
            assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
            assert r.headers["connection"] == "close"
    finally:
        server.close()


def test_a_method_not_allowed_names_every_method_of_its_path(client):
    r = client.request("OPTIONS", "/api/search")
    assert r.status_code == 405 and set(r.headers["allow"].split(", ")) == {"GET", "POST"}


@pytest.mark.parametrize(
    "params", ["q=it-drift&q=hjemmepleje", "q=it-drift&k=3&k=5", "q=it&per_case=true&per_case=false"]
)
def test_a_parameter_given_twice_is_an_error_not_the_last_value(client, params):
    r = client.get(f"/api/search?{params}")
    assert r.status_code == 422 and "flere gange" in r.json()["error"]["message"]
    assert (
        client.get("/api/search?q=it-drift&municipality=Ballerup+Kommune&municipality=Egedal+Kommune").status_code
        == 200
    )


@pytest.mark.parametrize(
    "body,status",
    [
        ({"q": "it-drift", "k": 3.0}, 200),
        ({"q": "it-drift", "k": "3"}, 422),
        ({"q": "it-drift", "k": 3.5}, 422),
        ({"q": "it-drift", "per_case": "0"}, 422),
        ({"q": "it-drift", "per_case": 1}, 422),
    ],
)
def test_json_types_are_read_as_json_means_them(client, body, status):
    assert client.post("/api/search", json=body).status_code == status


def test_the_openapi_schema_says_what_each_route_takes_and_answers(client):
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    get_search = {p["name"]: p["schema"] for p in paths["/api/search"]["get"]["parameters"]}
    assert get_search["q"]["minLength"] == 1 and get_search["q"]["maxLength"] == 1000 and get_search["q"]["pattern"]
    assert get_search["k"]["minimum"] == 1 and get_search["k"]["maximum"] == 50
    components = schema["components"]["schemas"]
    assert components["SearchRequest"]["properties"]["q"]["minLength"] == 1
    assert components["AskRequest"]["properties"]["k"]["maximum"] == 50
    assert components["Filters"]["properties"]["municipality"]["maxItems"] == 100
    assert components["ChatRequest"]["properties"]["messages"]["minItems"] == 1
    case_id = next(p for p in paths["/api/cases/{case_id}"]["get"]["parameters"] if p["name"] == "case_id")
    assert case_id["schema"]["pattern"]
    for path, method, statuses in [
        ("/api/search", "get", {"400", "413", "422", "503"}),
        ("/api/ask", "post", {"400", "401", "413", "422", "503"}),
        ("/api/cases/{case_id}", "get", {"400", "404", "503"}),
        ("/api/catalogues", "post", {"400", "401", "403", "413", "422", "503"}),
        ("/api/catalogues/{doc_id}", "delete", {"400", "401", "403", "404", "409", "503"}),
    ]:
        assert statuses <= set(paths[path][method]["responses"]), (
            path,
            statuses - set(paths[path][method]["responses"]),
        )


def test_form_data_that_cannot_be_read_is_a_danish_400(engine, settings):
    locked = settings.model_copy(update={"api_key": "hemmelig"})
    with TestClient(create_app(locked, engine)) as c:
        r = c.post(
            "/api/catalogues",
            content=b"--grense\r\nikke en del",
            headers={"X-API-Key": "hemmelig", "Content-Type": "multipart/form-data; boundary=grense"},
        )
    assert r.status_code == 400 and r.json()["error"] == {
        "code": "invalid_form",
        "message": "Forespørgslens formulardata kan ikke læses.",
    }


def test_a_chat_whose_last_user_message_is_empty_answers_the_one_before(client):
    messages = [{"role": "user", "content": "Hvilke kommuner deler it-drift?"}, {"role": "user", "content": " "}]
    assert client.post("/v1/chat/completions", json={"messages": messages}).status_code == 200
    r = client.post("/v1/chat/completions", json={"messages": [{"role": "system", "content": "Svar kort."}]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "no_user_message"
    contains = client.get("/openapi.json").json()["components"]["schemas"]["ChatRequest"]["properties"]["messages"]
    assert contains["contains"]["properties"]["role"] == {"const": "user"}


@pytest.mark.parametrize("year", ["", "null"])
def test_an_empty_year_field_in_the_upload_form_is_no_year(settings, engine, tmp_path, year):
    import shutil

    local = settings.model_copy(update={"corpus_dir": tmp_path / "corpus", "api_key": "hemmelig"})
    shutil.copytree(settings.corpus_dir, local.corpus_dir)
    with TestClient(create_app(local, engine)) as c:
        r = c.post(
            "/api/catalogues",
            headers={"X-API-Key": "hemmelig"},
            data={"year": year},
            files={"file": ("notat.xyz", b"tekst", "text/plain")},
        )
    assert (
        r.status_code == 422 and "filtypen .xyz" in r.json()["error"]["message"]
    )  # refused for the file, not the year
