"""Catalogues in other shapes, on hand-made files: a web page or a Word file gives one unit per
heading of the level that carries its cases; a PDF's spaced-out letters are joined and its title
is its own; a warning about a file is given once, by the build that takes the file in."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from casefinder.corpus.extract.docx import docx_to_text
from casefinder.corpus.extract.html import html_to_text
from casefinder.corpus.extract.pdf import _spaced_words_joined, pdf_title, pdf_to_text
from casefinder.corpus.library import add_catalogue
from casefinder.corpus.parse import load_corpus

SHORT_CASES = [
    ("Vejle Kommune: Fælles vagtcentral", "Tre kommuner samler nattevagternes opkald i én vagtcentral."),
    ("Kolding Kommune: Droner ved broer", "Vejafdelingen fotograferer broer med droner."),
    ("Aarhus Kommune: Robotter i lønnen", "Lønkontoret lader en robot bogføre refusioner."),
]


def _html(path, cases=SHORT_CASES, parts=("Kort om",)):
    cases = "".join(f"<h2>{t}</h2>" + "".join(f"<h3>{p}</h3>" for p in parts) + f"<p>{b}</p>" for t, b in cases)
    path.write_text(
        f"<!doctype html><html lang=da><head><meta charset=utf-8><title>Katalog</title></head>"
        f"<body><h1>Nye samarbejder</h1><p>Kataloget samler nye eksempler.</p>{cases}</body></html>",
        "utf-8",
    )
    return html_to_text(path)


def _docx(path, cases=SHORT_CASES, parts=("Kort om",)):
    import docx

    document = docx.Document()
    document.add_heading("Nye samarbejder", level=0)  # the "Title" style
    for title, body in cases:
        document.add_heading(title, level=1)
        for part in parts:
            document.add_heading(part, level=2)
        document.add_paragraph(body)
    document.save(path)
    return docx_to_text(path)


@pytest.mark.parametrize("extract", [_html, _docx])
@pytest.mark.parametrize(
    "cases,parts", [(SHORT_CASES, ("Kort om",)), (SHORT_CASES[:2], ()), (SHORT_CASES[:2], ("Kort om",))]
)
def test_each_heading_of_the_level_that_carries_the_cases_is_a_unit_of_its_own(tmp_path, extract, cases, parts):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "nye.md").write_text(extract(tmp_path / "nye.src", cases, parts), "utf-8")
    found = [c for c in load_corpus(corpus).cases if "Kommune" in c.title]
    assert [c.title for c in found] == [t for t, _ in cases]
    assert [c.municipality for c in found] == [t.split(":")[0] for t, _ in cases]
    assert all(body in c.text and c.text.count("Kommune:") <= 1 for c, (_, body) in zip(found, cases))
    assert [h.title for c in found for h in c.headings] == [p for _ in cases for p in parts]


def test_a_word_files_title_style_sits_above_its_headings(tmp_path):
    text = _docx(tmp_path / "nye.docx")
    assert text.startswith("# Nye samarbejder\n") and "\n## Vejle Kommune: Fælles vagtcentral\n" in text


FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "samarbejde-2019-tospaltet.pdf"


@pytest.mark.skipif(not FIXTURE.exists(), reason="../shared/fixtures mangler")
def test_a_two_column_pdf_gives_the_titles_of_its_markdown_version(tmp_path, settings):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "pdf.txt").write_text(pdf_to_text(FIXTURE), "utf-8")
    shutil.copy(settings.corpus_dir / "kl-samarbejde-2019.md", corpus)
    cases = load_corpus(corpus).cases
    from_pdf = [c.title for c in cases if c.catalogue == "pdf" and c.kind == "case"]
    from_markdown = [c.title for c in cases if c.catalogue == "kl-samarbejde-2019" and c.kind == "case"]
    assert from_pdf == from_markdown and len(from_pdf) == 14


def test_letter_spaced_pieces_of_a_heading_are_joined_and_words_stay_apart():
    assert _spaced_words_joined("SAMARBEJDE MELLE M AKUT- TEAM") == "SAMARBEJDE MELLEM AKUT- TEAM"
    assert _spaced_words_joined("Samarbejde i en kommune") == "Samarbejde i en kommune"
    assert _spaced_words_joined("Odense Kommune: Straks-indsats") == "Odense Kommune: Straks-indsats"


@pytest.mark.skipif(not FIXTURE.exists(), reason="../shared/fixtures mangler")
def test_a_pdf_catalogue_is_titled_by_its_own_title_not_its_publisher(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "catalogues.toml").write_text("", "utf-8")
    doc_id = add_catalogue(corpus, FIXTURE)
    assert load_corpus(corpus).document(doc_id).title == "KL · Samarbejde – en vej til mere råderum · 2019"
    assert pdf_title(tmp_path / "findes-ikke.pdf", "# KL\n\n# Samarbejde – en vej\n") == "Samarbejde – en vej"


def test_a_pdf_beyond_the_page_or_time_bound_is_refused_by_name(tmp_path, monkeypatch):
    from pypdf import PdfWriter

    from casefinder.corpus.extract import pdf
    from casefinder.corpus.extract.pdf import ExtractionError

    writer = PdfWriter()
    for _ in range(pdf.MAX_PAGES + 1):
        writer.add_blank_page(100, 100)
    with open(tmp_path / "tyk.pdf", "wb") as f:
        writer.write(f)
    with pytest.raises(ExtractionError, match=r"^tyk\.pdf: PDF'en har 2001 sider"):
        pdf_to_text(tmp_path / "tyk.pdf")
    if FIXTURE.exists():
        monkeypatch.setattr(pdf, "MAX_SECONDS", 0.0)
        with pytest.raises(ExtractionError, match="kunne ikke læses på 0 sekunder"):
            pdf_to_text(FIXTURE)
