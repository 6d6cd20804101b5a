"""The search page end to end in a real headless Chromium (Debian's, driven by Playwright)."""

import os
from pathlib import Path
from urllib.parse import quote_plus

import pytest

from casefinder.api.app import create_app
from servers import AppServer

CHROMIUM = os.environ.get("CASEFINDER_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
pytestmark = [pytest.mark.browser, pytest.mark.corpus]


@pytest.fixture(scope="module")
def browser_page(engine):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} mangler: installér Debian-pakken chromium (.ci/run gør det)")
    server = AppServer(create_app(engine.settings, engine))
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        yield page, server.url
        browser.close()
    server.close()


def cards(page):
    return page.locator(".card h3")


def test_typing_a_query_shows_the_odense_case_first(browser_page):
    page, url = browser_page
    page.goto(url + "/")
    assert page.evaluate("document.activeElement.id") == "q"  # focus on load
    page.fill("#q", "samarbejde om medicinudlevering")
    page.keyboard.press("Enter")
    page.wait_for_selector(".card")
    assert "Odense Kommune" in cards(page).first.inner_text()
    marked = [m.lower() for m in page.locator(".card").first.locator("mark").all_inner_texts()]
    assert "medicinudlevering" in marked
    assert "q=samarbejde+om+medicinudlevering" in page.url  # the URL carries the state
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "results.png"), full_page=True)


def test_source_link_opens_the_catalogue_at_the_highlighted_passage(browser_page):
    page, url = browser_page
    page.goto(url + "/?q=" + quote_plus("samarbejde om medicinudlevering"))
    page.locator(".card a.source").first.click()
    page.wait_for_selector("#passage.marked mark")
    block = page.locator("#passage")
    assert block.is_visible() and block.count() == 1
    # One clean block: the marks inside carry no boxes of their own (no padding, outline or border).
    assert page.evaluate("""() => [...document.querySelectorAll('#passage mark')].every(m => {
        const s = getComputedStyle(m);
        return s.paddingLeft === '0px' && s.outlineStyle === 'none' && s.borderLeftStyle === 'none'; })""")
    assert page.evaluate("""() => { const r = document.getElementById('passage').getBoundingClientRect();
                                    return r.top >= 0 && r.top < window.innerHeight; }""")
    assert "/documents/kl-samarbejde-2019" in page.url


def test_municipality_facet_narrows_the_list(browser_page):
    page, url = browser_page
    page.goto(url + "/?q=" + quote_plus("fælles indkøb"))
    before = cards(page).count()
    facet = page.locator('nav.facet[aria-label="Kommune"] a').first
    name = facet.inner_text().rsplit(" ", 1)[0].strip()
    facet.click()
    page.wait_for_function("() => location.search.includes('municipality=')")
    page.wait_for_selector(".chip")
    after = cards(page).count()
    assert 0 < after <= before
    assert name in page.locator(".chip").first.inner_text()


def test_a_shared_url_shows_the_same_results(browser_page, client):
    page, url = browser_page
    shared = "/?q=" + quote_plus("fælles indkøb") + "&municipality=" + quote_plus("Esbjerg Kommune")
    page.goto(url + shared)
    titles = [t.strip() for t in cards(page).all_inner_texts()]
    api = client.get("/api/search", params={"q": "fælles indkøb", "municipality": "Esbjerg Kommune"}).json()
    assert titles == [h["case"]["title"] for h in api["hits"]]
    assert titles


def test_no_match_state(browser_page):
    page, url = browser_page
    page.goto(url + "/")
    page.fill("#q", "opskrift på kanelsnegle")
    page.keyboard.press("Enter")
    page.wait_for_selector(".state.nomatch")
    assert "Ingen cases matcher" in page.locator(".state.nomatch").inner_text()
    assert page.locator("nav.facet").count() == 0  # nothing to narrow down


def test_weak_hits_are_marked_as_such(browser_page, client):
    page, url = browser_page
    query = "samarbejde om medicinudlevering"
    hits = client.get("/api/search", params={"q": query}).json()["hits"]
    weak = [h["rank"] for h in hits if h["confidence"] < 0.5]
    assert weak and hits[0]["confidence"] >= 0.5
    page.goto(url + "/?q=" + quote_plus(query))
    page.wait_for_selector(".card")
    assert page.locator(".card").first.locator(".weak-label").count() == 0
    labelled = [int(r) for r in page.locator(".card.weak").evaluate_all("cs => cs.map(c => c.dataset.rank)")]
    assert labelled == weak
    assert page.locator(".card.weak .weak-label").first.inner_text() == "Svagt match"


def test_empty_state_offers_examples_and_keyboard_navigation(browser_page):
    page, url = browser_page
    page.goto(url + "/")
    assert page.locator(".examples a").count() >= 3
    page.locator(".examples a").first.click()
    page.wait_for_selector(".card")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.classList.contains('card')")
