"""No input breaks the library: what a catalogue's title, file name or package holds is checked
before anything is written, and errors name files, never the server's folders."""

import shutil
import zipfile

import pytest

from casefinder.corpus.library import add_catalogue, remove_catalogue
from casefinder.corpus.parse import MANIFEST_NAME, CorpusError, load_corpus, read_manifest
from conftest import ROOT

pytestmark = pytest.mark.corpus  # the bundled corpus, its index and the real model

BUNDLED = ROOT / "corpus"
SMALL = "kl-samarbejdende-kommuner-2018.md"


@pytest.fixture()
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(BUNDLED / SMALL, folder)
    shutil.copy(BUNDLED / MANIFEST_NAME, folder)
    (folder / MANIFEST_NAME).write_text(
        "\n\n".join(
            b
            for b in (BUNDLED / MANIFEST_NAME).read_text("utf-8").split("\n\n")
            if "kl-samarbejdende" in b or b.startswith("#")
        )
        + "\n",
        "utf-8",
    )
    return folder


@pytest.fixture()
def catalogue(tmp_path):
    path = tmp_path / "notat.md"
    path.write_text("# Fælles indkøb\n\nTre kommuner køber ind sammen og sparer penge på det hvert år.\n", "utf-8")
    return path


def snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.parametrize("title", ["Bi\x7f", "Fælles\x00indkøb", "Ugyldig \ud800", "x" * 10_000])
def test_a_title_that_the_manifest_could_not_hold_is_refused_and_nothing_changes(corpus, catalogue, title):
    before = snapshot(corpus)
    with pytest.raises(CorpusError, match="titlen"):
        add_catalogue(corpus, catalogue, title=title)
    assert snapshot(corpus) == before
    assert [d.id for d in load_corpus(corpus).documents] == ["kl-samarbejdende-kommuner-2018"]


def test_adding_and_removing_a_catalogue_leaves_the_manifest_as_it_was_byte_for_byte(corpus, catalogue):
    before = snapshot(corpus)
    doc_id = add_catalogue(corpus, catalogue, title='Fælles indkøb «med citat» og "anførselstegn"')
    assert read_manifest(corpus)["notat.md"]["title"] == 'Fælles indkøb «med citat» og "anførselstegn"'
    remove_catalogue(corpus, doc_id)
    assert snapshot(corpus) == before


def test_errors_name_the_manifest_not_the_servers_folders(corpus):
    (corpus / MANIFEST_NAME).write_text("[[catalogue]]\nfile = 3\n", "utf-8")
    with pytest.raises(CorpusError) as refused:
        read_manifest(corpus)
    assert MANIFEST_NAME in str(refused.value) and str(corpus) not in str(refused.value)


def _docx(path, document_xml: bytes | None = None):
    import docx

    document = docx.Document()
    document.add_paragraph("Tre kommuner deler en fælles vagtcentral og sparer penge på det.")
    document.save(path)
    if document_xml is not None:
        with zipfile.ZipFile(path) as original:
            parts = {i.filename: original.read(i) for i in original.infolist()}
        parts["word/document.xml"] = document_xml
        with zipfile.ZipFile(path, "w") as rewritten:
            for name, data in parts.items():
                rewritten.writestr(name, data)


def test_a_docx_with_broken_xml_is_refused_by_name(corpus, tmp_path):
    _docx(tmp_path / "brudt.docx", b"<w:document><ikke lukket")
    with pytest.raises(CorpusError, match="brudt.docx: filen er ikke en læsbar DOCX"):
        add_catalogue(corpus, tmp_path / "brudt.docx")


def test_a_docx_that_unpacks_to_too_much_is_refused_before_it_is_read(corpus, tmp_path, monkeypatch):
    from casefinder.corpus.extract import docx as extract

    _docx(tmp_path / "stor.docx")
    monkeypatch.setattr(extract, "MAX_UNPACKED_BYTES", 1000)
    with pytest.raises(CorpusError, match="stor.docx: DOCX-filen pakker ud til mere end"):
        add_catalogue(corpus, tmp_path / "stor.docx")


def test_adding_a_catalogue_that_is_already_there_says_how_to_finish_an_interrupted_add(corpus, catalogue):
    add_catalogue(corpus, catalogue)  # as if the indexing after it had been killed
    with pytest.raises(CorpusError, match="casefinder index"):
        add_catalogue(corpus, catalogue)
    other = catalogue.with_name("andet.md")
    other.write_text("# Andet\n\nEt andet notat om fælles rengøring i to kommuner, med samme id.\n", "utf-8")
    with pytest.raises(CorpusError, match="allerede i brug"):
        add_catalogue(corpus, other, doc_id="notat")
