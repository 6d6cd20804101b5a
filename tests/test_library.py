"""The library grows: catalogues added as PDF or text, removed again; what cannot be read is
refused with a message naming the file, and nothing already there changes."""

from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient

from casefinder.api.app import create_app
from casefinder.corpus.extract.pdf import pdf_to_text
from casefinder.corpus.library import add_catalogue, remove_catalogue
from casefinder.corpus.parse import CorpusError, load_corpus
from casefinder.corpus.text_tools import letters  # text up to hyphenation, line breaks and spacing
from casefinder.engine import Casefinder
from casefinder.index.build import build_index
from conftest import SHARED

FIXTURE = SHARED / "fixtures" / "samarbejde-2019-tospaltet.pdf"
MARKDOWN = "kl-samarbejde-2019.md"
pytestmark = pytest.mark.skipif(not FIXTURE.exists(), reason="../shared/fixtures mangler")


@pytest.fixture(scope="module")
def pdf_pages() -> list[str]:
    from pdfminer.high_level import extract_text

    return [letters(extract_text(FIXTURE, page_numbers=[n])) for n in range(34)]


@pytest.fixture()
def library(settings, tmp_path):
    """A corpus of one bundled catalogue, with the shipped index as its vector cache."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(settings.corpus_dir / "kl-samarbejdende-kommuner-2018.md", corpus)
    shutil.copytree(settings.index_dir, tmp_path / "index")
    return settings.model_copy(update={"corpus_dir": corpus, "index_dir": tmp_path / "index"})


def names(folder) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_the_fixture_pdf_gives_the_cases_of_its_markdown_version_with_their_pages(settings, tmp_path, pdf_pages):
    (tmp_path / "pdf.txt").write_text(pdf_to_text(FIXTURE), "utf-8")
    shutil.copy(settings.corpus_dir / MARKDOWN, tmp_path / "md.md")
    corpus = load_corpus(tmp_path)
    from_pdf = [c for c in corpus.cases if c.catalogue == "pdf"]
    from_md = [c for c in corpus.cases if c.catalogue == "md"]
    assert [(c.kind, letters(c.title)) for c in from_pdf] == [(c.kind, letters(c.title)) for c in from_md]
    assert sum(c.kind == "case" for c in from_pdf) >= 10
    for pdf_case, md_case in zip(from_pdf, from_md):
        assert letters(pdf_case.text) == letters(md_case.text), pdf_case.title
        # no running head or footer inside a case
        assert "Side " not in pdf_case.text and "KL · Samarbejde" not in pdf_case.text
        # the unit starts on the page where its heading is printed; page 1 also lists the
        # cases in its contents, so no case may start there
        heading = letters(pdf_case.title)[:12]
        assert pdf_case.page and heading in pdf_pages[pdf_case.page - 1], pdf_case.title
        assert pdf_case.kind != "case" or pdf_case.page > 1


@pytest.mark.corpus
def test_add_a_pdf_search_it_open_the_original_at_the_page_and_remove_it(library, engine):
    before = names(library.corpus_dir)
    doc_id = add_catalogue(library.corpus_dir, FIXTURE, title="Samarbejde (PDF)", year=2019)
    assert names(library.corpus_dir) - before == {"catalogues.toml", f"{doc_id}.pdf", f"{doc_id}.txt"}
    index = build_index(library, engine.embedder, progress=False)
    local = Casefinder(library, index, engine.embedder)
    hit = local.search("medicinudlevering i weekenden mellem akutteam og misbrugscenter").hits[0]
    assert "Odense" in hit.case.title and hit.source.page in (8, 9)
    assert hit.source.original_url == f"/documents/{doc_id}/original#page={hit.source.page}"
    raw = local.corpus.document(doc_id).raw
    assert raw.count("\f", 0, hit.source.start) + 1 == hit.source.page
    with TestClient(create_app(library, local)) as c:
        original = c.get(f"/documents/{doc_id}/original")
        assert original.status_code == 200 and original.headers["content-type"] == "application/pdf"
        assert original.content == FIXTURE.read_bytes()
    assert remove_catalogue(library.corpus_dir, doc_id) == [f"{doc_id}.txt", f"{doc_id}.pdf"]
    assert names(library.corpus_dir) == before | {"catalogues.toml"}
    assert [d.id for d in load_corpus(library.corpus_dir).documents] == ["kl-samarbejdende-kommuner-2018"]


def _encrypted(path):
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(FIXTURE))
    writer.encrypt("hemmelig")
    writer.write(path)


def _no_text_layer(path):
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.write(path)


@pytest.mark.parametrize(
    "name,make,reason",
    [
        ("krypteret.pdf", _encrypted, "krypteret"),
        ("skannet.pdf", _no_text_layer, "ingen tekst"),
        ("tom.txt", lambda p: p.write_bytes(b"  \n"), "tom"),
        ("latin1.txt", lambda p: p.write_bytes("Kommunernes samarbejde om indkøb".encode("latin-1")), "UTF-8"),
        ("regneark.xlsx", lambda p: p.write_bytes(b"PK\x03\x04"), "filtypen"),
        ("kaputt.pdf", lambda p: p.write_bytes(b"%PDF-1.4 ikke en pdf"), "læsbar PDF"),
        ("halv.pdf", lambda p: p.write_bytes(FIXTURE.read_bytes()[:5000]), "læsbar PDF"),
        ("kaputt.docx", lambda p: p.write_bytes(b"PK ikke en zip"), "læsbar DOCX"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_and_nothing_changes(library, tmp_path, name, make, reason):
    before = {p.name: p.read_bytes() for p in library.corpus_dir.iterdir()}
    make(tmp_path / name)
    with pytest.raises(CorpusError, match=reason) as refused:
        add_catalogue(library.corpus_dir, tmp_path / name)
    assert name in str(refused.value)
    assert {p.name: p.read_bytes() for p in library.corpus_dir.iterdir()} == before


def test_an_id_already_in_use_and_the_last_catalogue_are_refused(library, settings):
    with pytest.raises(CorpusError, match="allerede i brug"):
        add_catalogue(library.corpus_dir, settings.corpus_dir / MARKDOWN, doc_id="kl-samarbejdende-kommuner-2018")
    (library.corpus_dir / "catalogues.toml").write_text(
        '[[catalogue]]\nid = "eneste"\nfile = "kl-samarbejdende-kommuner-2018.md"\n', "utf-8"
    )
    with pytest.raises(CorpusError, match="sidste katalog"):
        remove_catalogue(library.corpus_dir, "eneste")


@pytest.mark.corpus
def test_catalogues_are_added_and_removed_over_the_api_with_the_admin_key(library, engine, settings):
    locked = library.model_copy(update={"api_key": "hemmelig"})
    key = {"X-API-Key": "hemmelig"}
    text = (settings.corpus_dir / MARKDOWN).read_bytes()
    with TestClient(create_app(locked, Casefinder.load(locked, progress=False))) as c:
        files = {"file": ("samarbejde.md", text, "text/markdown")}
        assert c.post("/api/catalogues", files=files).status_code == 401
        added = c.post("/api/catalogues", files=files, data={"title": "Samarbejde", "year": "2019"}, headers=key)
        assert added.status_code == 201 and added.json()["id"] == "samarbejde"
        assert sorted(d["id"] for d in c.get("/api/documents").json()) == [
            "kl-samarbejdende-kommuner-2018",
            "samarbejde",
        ]
        refused = c.post("/api/catalogues", files={"file": ("tom.txt", b"", "text/plain")}, headers=key)
        assert refused.status_code == 422 and "tom.txt" in refused.json()["error"]["message"]
        assert c.delete("/api/catalogues/samarbejde", headers=key).status_code == 200
        assert [d["id"] for d in c.get("/api/documents").json()] == ["kl-samarbejdende-kommuner-2018"]
        # A file name or title the manifest could not hold is a 422 naming no server folder.
        for name, title in ((b"nul\x00.md", b"Samarbejde"), (b"samarbejde.md", b"Bi\x7f")):
            body = (
                b'--grense\r\nContent-Disposition: form-data; name="title"\r\n\r\n'
                + title
                + b'\r\n--grense\r\nContent-Disposition: form-data; name="file"; filename="'
                + name
                + b'"\r\nContent-Type: text/markdown\r\n\r\n'
                + text
                + b"\r\n--grense--\r\n"
            )
            refused = c.post(
                "/api/catalogues", content=body, headers={**key, "Content-Type": "multipart/form-data; boundary=grense"}
            )
            assert refused.status_code == 422 and str(library.corpus_dir) not in refused.text
        assert [d["id"] for d in c.get("/api/documents").json()] == ["kl-samarbejdende-kommuner-2018"]


CASE_TEXT = [
    (
        "Vejle Kommune: Fælles vagtcentral for natteplejen",
        "Tre kommuner samler nattevagternes opkald i én vagtcentral. Borgere med nødkald får svar inden for to "
        "minutter, og sygeplejersker kører ud fra den nærmeste base. Ordningen sparer 1,2 mio. kr. om året. "
        "Vagtcentralen bemandes af en koordinator, som kender alle tre kommuners borgere med nødkald, og som "
        "kan se, hvilken bil der er nærmest. Kommunerne deler udgiften efter antal borgere med nødkald.",
    ),
    (
        "Kolding Kommune: Droner til inspektion af broer",
        "Vejafdelingen bruger droner til at fotografere brounderside og autoværn. Inspektionen tager en dag "
        "frem for en uge, og ingen medarbejdere skal hænge i lift over vandet. Billederne lægges i kommunens "
        "vejregister, så revner og rust kan følges fra år til år. Dronen flyves af to medarbejdere med "
        "droncertifikat, og flyvningerne planlægges, så trafikken på broen ikke skal standses.",
    ),
]


def _docx(path):
    import docx

    document = docx.Document()
    document.add_heading("Eksempler på nye samarbejder", level=0)
    for title, body in CASE_TEXT:
        document.add_heading(title, level=1)
        document.add_paragraph(body)
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Besparelse", "1,2 mio. kr."
    document.save(path)


def _html(path):
    cases = "".join(f"<h2>{t}</h2><p>{b}</p>" for t, b in CASE_TEXT)
    path.write_text(
        f"<!doctype html><html lang=da><head><meta charset=utf-8><title>Katalog</title>"
        f"<script>var x = 'ikke tekst';</script></head><body><nav>Forside · Om os</nav>"
        f"<h1>Eksempler på nye samarbejder</h1>{cases}<footer>Kontakt os</footer></body></html>",
        "utf-8",
    )


@pytest.mark.corpus
@pytest.mark.parametrize("name,make", [("nye-samarbejder.docx", _docx), ("nye-samarbejder.html", _html)])
def test_a_docx_or_web_page_is_added_and_searchable_with_exact_offsets(library, engine, tmp_path, name, make):
    make(tmp_path / name)
    doc_id = add_catalogue(library.corpus_dir, tmp_path / name)
    assert (library.corpus_dir / name.replace("nye-samarbejder", doc_id)).read_bytes() == (tmp_path / name).read_bytes()
    index = build_index(library, engine.embedder, progress=False)
    local = Casefinder(library, index, engine.embedder)
    raw = local.corpus.document(doc_id).raw
    assert "ikke tekst" not in raw and "Forside" not in raw and "Kontakt os" not in raw
    hit = local.search("droner til inspektion af broer").hits[0]
    assert hit.case.catalogue == doc_id and "Droner" in hit.case.title and hit.confidence >= 0.5
    # the span is the passage before cleaning (which drops a table's "|")
    assert [w for w in raw[hit.source.start : hit.source.end].split() if w != "|"] == hit.passage.text.split()
    assert "Vejafdelingen bruger droner" in hit.passage.text


@pytest.mark.corpus
@pytest.mark.browser
def test_a_pdf_printed_in_the_test_gets_the_right_page_for_each_case(library, engine, tmp_path):
    import subprocess

    from pdfminer.high_level import extract_text

    from test_page import CHROMIUM

    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} mangler: installér Debian-pakken chromium (.ci/run gør det)")
    sections = [
        ("Indledning", "Kataloget samler erfaringer fra tre kommuner med fælles drift af haller og skoler.")
    ] + list(CASE_TEXT)
    body = "".join(
        f'<section style="page-break-after: always"><h1>{title}</h1><p>{text * 3}</p></section>'
        for title, text in sections
    )
    (tmp_path / "katalog.html").write_text(
        f'<!doctype html><html lang="da"><meta charset="utf-8"><body>{body}</body></html>', "utf-8"
    )
    pdf = tmp_path / "trykt-katalog.pdf"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--no-pdf-header-footer",
            f"--user-data-dir={tmp_path / 'profil'}",
            f"--print-to-pdf={pdf}",
            (tmp_path / "katalog.html").as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    doc_id = add_catalogue(library.corpus_dir, pdf)
    local = Casefinder(library, build_index(library, engine.embedder, progress=False), engine.embedder)
    units = [c for c in local.corpus.cases if c.catalogue == doc_id]
    assert [letters(c.title) for c in units] == [letters(title) for title, _ in sections]
    for number, unit in enumerate(units, 1):
        assert unit.page == number
        assert letters(unit.title) in letters(extract_text(pdf, page_numbers=[number - 1]))
    hit = local.search("droner til inspektion af broer").hits[0]
    assert hit.case.catalogue == doc_id and hit.source.page == 3


def test_a_failed_add_is_rolled_back_even_from_an_empty_corpus(tmp_path, settings):
    from casefinder.corpus.library import adding

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    with pytest.raises(RuntimeError, match="indekseringen"):
        with adding(corpus, settings.corpus_dir / MARKDOWN) as doc_id:
            assert (corpus / f"{doc_id}.md").exists()
            raise RuntimeError("indekseringen fejlede")
    assert load_corpus(corpus).documents == []
