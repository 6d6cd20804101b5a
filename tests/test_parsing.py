"""The five catalogues become cases with clean titles, municipalities and exact positions."""

import re
from collections import Counter

import pytest

from casefinder.corpus.entities import known_municipalities
from casefinder.corpus.parse import CorpusError, load_corpus, read_document
from conftest import case_by_title


def kinds(corpus, catalogue):
    return Counter(c.kind for c in corpus.cases if c.catalogue == catalogue)


@pytest.mark.corpus
def test_counts_per_catalogue(corpus):
    assert kinds(corpus, "kl-samarbejde-2019")["case"] == 14
    assert kinds(corpus, "kl-kommunale-veje-2017")["proposal"] == 47
    assert kinds(corpus, "kl-devoteam-it-samarbejder-2016")["case"] == 13
    assert 145 <= kinds(corpus, "kl-effektiviseringskatalog-2016")["case"] <= 160
    assert 13 <= kinds(corpus, "kl-samarbejdende-kommuner-2018")["case"] <= 16
    for doc in corpus.documents:
        assert kinds(corpus, doc.id)["section"] >= 1, f"{doc.id} mangler generelle afsnit"


@pytest.mark.corpus
def test_layouts_are_recognised_by_content(corpus):
    layouts = {d.id: d.layout for d in corpus.documents}
    assert layouts == {
        "kl-samarbejde-2019": "markdown",
        "kl-kommunale-veje-2017": "transcript",
        "kl-devoteam-it-samarbejder-2016": "transcript",
        "kl-effektiviseringskatalog-2016": "case-sheets",
        "kl-samarbejdende-kommuner-2018": "markdown",
    }


@pytest.mark.corpus
def test_odense_medicine_case(corpus):
    case = case_by_title(corpus, "kl-samarbejde-2019", "Odense")
    assert case.title.lower() == "odense kommune: samarbejde mellem akutteam og misbrugscenter"
    assert case.municipality == "Odense Kommune"
    assert case.kind == "case" and case.area == "Interne samarbejder"
    assert "medicinudlevering" in case.text
    assert [c.email for c in case.contacts] == ["nian@odense.dk"]
    assert case.contacts[0].name == "Nina Andersen"


@pytest.mark.corpus
def test_it_forsyningen_and_faellesindkoeb_fyn(corpus):
    it = case_by_title(corpus, "kl-samarbejde-2019", "IT-Forsyningen")
    assert it.title.startswith("IT-Forsyningen: Tværkommunalt samarbejde om")
    assert {"Ballerup Kommune", "Egedal Kommune", "Furesø Kommune"} <= set(it.municipalities)
    fyn = case_by_title(corpus, "kl-samarbejde-2019", "Fællesindkøb Fyn")
    assert any("228 mio. kr." in m for m in fyn.money)
    # An organisation is no municipality: it goes in organisations, the municipalities stay listed.
    assert it.organisations == ["IT-Forsyningen"] and it.municipality is None
    assert fyn.organisations == ["Fællesindkøb Fyn"] and fyn.municipality is None
    assert "Kerteminde Kommune" in fyn.municipalities


@pytest.mark.corpus
def test_municipality_holds_only_municipalities_and_regions(corpus):
    names = known_municipalities()
    assert len(names) == 98 + 5
    assert all(c.municipality is None or c.municipality in names for c in corpus.cases)
    assert all(set(c.municipalities) <= names for c in corpus.cases)
    # A title prefix that is a topic, not an actor, is neither municipality nor organisation.
    ops = case_by_title(corpus, "kl-samarbejde-2019", "Offentlig-Privat samarbejde")
    assert ops.municipality == "Ikast-Brande Kommune" and ops.organisations == []
    # "region Nordjylland" in running text is the region.
    hotline = case_by_title(corpus, "kl-effektiviseringskatalog-2016", "Den Digitale Hotline")
    assert hotline.municipality in {"Region Nordjylland", "Region Midtjylland"}


@pytest.mark.corpus
def test_esbjerg_sickness_absence_case_with_contact(corpus):
    case = case_by_title(corpus, "kl-effektiviseringskatalog-2016", "Reduktion af sygefravær")
    assert case.municipality == "Esbjerg Kommune"
    assert case.area == "Tværgående forslag" and case.efficiency_type == "Organisatoriske tilpasninger"
    assert case.contacts[0].email == "fm@esbjergkommune.dk"
    assert case.contacts[0].name == "Flemming Mortensen"


@pytest.mark.corpus
def test_proposal_has_track_and_page(corpus):
    case = case_by_title(corpus, "kl-kommunale-veje-2017", "Brobygning til uddannelse")
    assert case.kind == "proposal" and case.area == "Beskæftigelse" and case.page == 86
    assert "Side 86 af" not in case.text  # page markers are cleaned away


@pytest.mark.corpus
def test_raw_span_begins_at_the_title(corpus):
    docs = {d.id: d for d in corpus.documents}
    for case in corpus.cases:
        raw = docs[case.catalogue].raw[case.start : case.end]
        first_words = re.findall(r"\w+", case.title)[:2]
        head = re.sub(r"[^\w]", "", raw[:300]).lower()
        assert re.sub(r"[^\w]", "", "".join(first_words)).lower()[:12] in head, (case.id, raw[:80])


@pytest.mark.corpus
def test_cases_do_not_overlap(corpus):
    for doc in corpus.documents:
        spans = sorted((c.start, c.end) for c in corpus.cases if c.catalogue == doc.id)
        for (_, e1), (s2, _) in zip(spans, spans[1:]):
            assert e1 <= s2


@pytest.mark.corpus
def test_cases_printed_twice_appear_once(corpus):
    sheets = [c for c in corpus.cases if c.catalogue == "kl-effektiviseringskatalog-2016"]
    titles = Counter(c.title for c in sheets)
    assert titles["Ungeenheden"] == 1
    assert sum(len(c.duplicates) for c in sheets) >= 20
    for title, count in titles.items():  # a title twice is two municipalities' cases, not one printed twice
        if count > 1 and title != "Omlægning af servicetilbud":
            assert len({c.municipality for c in sheets if c.title == title}) == count, title


@pytest.mark.corpus
def test_covers_tocs_and_colophons_belong_to_no_unit(corpus):
    for case in corpus.cases:
        assert "ISBN" not in case.text and "Weidekampsgade" not in case.text, case.id
        assert "Indholdsfortegnelse" not in case.text[:50]


@pytest.mark.corpus
def test_ids_are_unique_and_stable(corpus, settings):
    ids = [c.id for c in corpus.cases]
    assert len(ids) == len(set(ids))
    assert ids == [c.id for c in load_corpus(settings.corpus_dir).cases]


def test_unknown_layout_becomes_searchable_with_a_warning(tmp_path):
    (tmp_path / "notat.txt").write_text("Et notat\n\nOm fælles indkøb af kontorartikler i tre kommuner. " * 20, "utf-8")
    corpus = load_corpus(tmp_path)
    assert len(corpus.cases) >= 1
    assert any("ukendt layout" in w for w in corpus.warnings)
    assert any("catalogues.toml" in w for w in corpus.warnings)


def test_empty_and_non_utf8_files_get_clear_errors(tmp_path):
    empty = tmp_path / "tom.txt"
    empty.write_bytes(b"  \n")
    with pytest.raises(CorpusError, match="tom.txt: filen er tom"):
        read_document(empty, None)
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("Ældre borgere i Århus".encode("latin-1"))
    with pytest.raises(CorpusError, match="latin1.txt: filen er ikke UTF-8"):
        read_document(latin, None)


@pytest.mark.corpus
def test_cases_cli_json_lists_whole_case_offsets(corpus, capsys):
    from casefinder.cli import main

    assert main(["cases", "--json", "--catalogue", "kl-samarbejde-2019"]) == 0
    import json

    listed = json.loads(capsys.readouterr().out)
    assert {"id", "title", "municipality", "catalogue", "sha256", "start", "end"} == set(listed[0])
    assert len(listed) == sum(c.catalogue == "kl-samarbejde-2019" for c in corpus.cases)


def test_a_bad_file_is_skipped_with_a_warning_and_the_rest_loads(tmp_path, settings):
    import shutil

    shutil.copy(settings.corpus_dir / "kl-samarbejdende-kommuner-2018.md", tmp_path)
    (tmp_path / "tom.md").write_bytes(b"")
    corpus = load_corpus(tmp_path)
    assert [d.path.name for d in corpus.documents] == ["kl-samarbejdende-kommuner-2018.md"]
    assert any(w.startswith("tom.md: filen er tom") for w in corpus.warnings)


@pytest.mark.corpus
def test_search_cli_puts_the_odense_case_first(capsys):
    import json

    from casefinder.cli import main

    assert main(["search", "samarbejde om medicinudlevering", "--json", "--k", "3"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert hits[0]["case"]["title"].startswith("Odense Kommune")


def _sheet(title: str, municipality: str, after_contact: str = "\n \n") -> str:
    return (
        f"{title} \n \nKommunen har samlet opgaven i et fælles center og sparer penge på det hvert år. "
        "Det giver bedre service for borgerne.\n \nStatus \nImplementeret. \n \nOm casen \n"
        f"Kommune: {municipality} Kommune \nKontaktperson: Jens Hansen (jeha@example.dk){after_contact}"
    )


def test_case_sheet_titles_are_the_sheets_titles(tmp_path):
    # The next sheet's title right under the contact field, a page footer and date above a title,
    # and a title wrapped over two lines: each sheet keeps its own title.
    text = (
        "Forord\n\n"
        + _sheet("Fælles lønkontor", "Greve", after_contact="\n")
        + _sheet("Digital post", "Køge", after_contact="\n \n\nB17-katalog  Side 5 af 9 \nApril 2016 \n \n")
        + _sheet("Styrket indsats for aktivitetsparate kontanthjælps- og uddannelseshjælpsmodta-\ngere", "Lejre")
        + _sheet("Fælles vagtcentral", "Solrød")
    )
    (tmp_path / "ark.txt").write_text(text, "utf-8")
    sheets = [c for c in load_corpus(tmp_path).cases if c.kind == "case"]
    assert [c.title for c in sheets] == [
        "Fælles lønkontor",
        "Digital post",
        "Styrket indsats for aktivitetsparate kontanthjælps- og uddannelseshjælpsmodtagere",
        "Fælles vagtcentral",
    ]
    assert [c.municipality for c in sheets] == ["Greve Kommune", "Køge Kommune", "Lejre Kommune", "Solrød Kommune"]
