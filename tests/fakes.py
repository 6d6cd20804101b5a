"""Stand-ins for the fast tests: an embedder that needs no model, and a tiny catalogue.

The fake embedder hashes a text's character trigrams (lower-cased, padded words) into 256
buckets and normalises the counts: deterministic, milliseconds per text, and texts that share
words lie closer than texts that do not, which is all the fusion, judge and index arithmetic
need. Tests that must know how the real model ranks use the bundled corpus (marker ``corpus``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

DIM = 256


class FakeEmbedder:
    model_id = "fake-trigram-256"
    dim = DIM

    def __init__(self) -> None:
        self.passages = 0  # how many passages were embedded, for tests of the cache

    def _embed(self, text: str) -> np.ndarray:
        vector = np.zeros(DIM, dtype=np.float32)
        for word in text.lower().split():
            padded = f" {word} "
            for i in range(len(padded) - 2):
                vector[int.from_bytes(hashlib.blake2b(padded[i : i + 3].encode(), digest_size=2).digest()) % DIM] += 1
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._embed(t) for t in texts]) if texts else np.zeros((0, DIM), np.float32)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.passages += len(texts)
        return self.embed_queries(texts)


TINY_CATALOGUE = """# Tværkommunale samarbejder 2026

Et lille katalog over nye samarbejder mellem kommuner, skrevet til de hurtige tests.

# Vejle Kommune: Fælles vagtcentral for natteplejen

Tre kommuner samler nattevagternes opkald i én vagtcentral. Borgere med nødkald får svar inden for
to minutter, og sygeplejersker kører ud fra den nærmeste base. Ordningen sparer 1,2 mio. kr. om året.
Vagtcentralen bemandes af en koordinator, som kender alle tre kommuners borgere med nødkald.

Kontakt: Anne Jensen, sygeplejefaglig leder, anje@vejle.dk

# Kolding Kommune: Droner til inspektion af broer

Vejafdelingen bruger droner til at fotografere brounderside og autoværn. Inspektionen tager en dag
frem for en uge, og ingen medarbejdere skal hænge i lift over vandet. Billederne lægges i kommunens
vejregister, så revner og rust kan følges fra år til år.

# Aarhus Kommune: Robotter bogfører refusioner

Lønkontoret lader en softwarerobot bogføre refusioner for sygedagpenge. Robotten arbejder om natten
og har frigjort to årsværk, som nu bruges på rådgivning af institutionerne om løn og fravær.

# Ballerup Kommune: Fælles it-drift med nabokommunerne

Ballerup, Egedal og Furesø driver deres servere og netværk sammen i et fælles it-driftscenter.
Samarbejdet har sænket udgifterne til licenser og giver vagtberedskab døgnet rundt.

# Odense Kommune: Medicinudlevering i akutteamet

Akutteamet udleverer medicin til borgere i misbrugsbehandling, så misbrugscentret kan holde lukket
om aftenen. Sygeplejerskerne registrerer hver udlevering i omsorgssystemet.
"""


def write_tiny_corpus(folder: Path) -> Path:
    """The tiny catalogue as a corpus folder with its manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nye-samarbejder.md").write_text(TINY_CATALOGUE, "utf-8")
    (folder / "catalogues.toml").write_text(
        '[[catalogue]]\nid = "nye-samarbejder"\nfile = "nye-samarbejder.md"\n'
        'title = "Tværkommunale samarbejder 2026"\npublisher = "Testkommunerne"\nyear = 2026\n',
        "utf-8",
    )
    return folder
