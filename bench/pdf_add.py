"""A PDF printed by headless Chromium from Danish HTML, added with `casefinder add`, then found.

    python bench/pdf_add.py

Issue target: a three-page PDF is added, and a query for its case finds it at rank 1 with the
right page. Runs on a copy of the bundled corpus and index (so only the new text is embedded)
and reports the add time, the rank and the page.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

FILLER = (
    "Kommunerne i samarbejdet mødes hver måned i en styregruppe, hvor økonomi, kvalitet og "
    "medarbejdernes arbejdsmiljø gennemgås. Erfaringerne deles i et fælles netværk. "
)
PAGES = [
    ("Forord", "Dette katalog samler nye erfaringer med tværkommunalt samarbejde. " + FILLER * 12),
    ("Indledning", "Katalogets cases er udvalgt af en arbejdsgruppe med deltagelse af fem kommuner. " + FILLER * 12),
    (
        "Vejen Kommune: Fælles rengøring af idrætshaller",
        "Vejen, Billund og Vejle kommuner har samlet rengøringen af 31 idrætshaller i ét fælles team. Teamet "
        "kører efter en fast rute, deler maskiner som gulvvaskere og lift, og bestiller rengøringsmidler samlet. "
        "Hallerne bliver rengjort om natten, så foreningerne ikke mærker det. Samarbejdet sparer 1,4 mio. kr. om "
        "året, især på maskiner og indkøb. " + FILLER * 4,
    ),
]
QUERY = "fælles rengøring af idrætshaller på tværs af kommuner"


def html() -> str:
    pages = "".join(
        f'<section style="page-break-after: always"><h1>{title}</h1><p>{body}</p></section>' for title, body in PAGES
    )
    return (
        f'<!doctype html><html lang="da"><head><meta charset="utf-8"><style>body {{ font: 11pt serif; }} '
        f"h1 {{ font-size: 20pt; }}</style></head><body>{pages}</body></html>"
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "katalog.html").write_text(html(), "utf-8")
        pdf = tmp / "nye-cases-2026.pdf"
        subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--no-pdf-header-footer",
                f"--user-data-dir={tmp / 'profile'}",
                f"--print-to-pdf={pdf}",
                (tmp / "katalog.html").as_uri(),
            ],
            check=True,
            capture_output=True,
        )
        shutil.copytree(ROOT / "corpus", tmp / "corpus")
        shutil.copytree(ROOT / "index", tmp / "index")
        env = {**os.environ, "CASEFINDER_CORPUS_DIR": str(tmp / "corpus"), "CASEFINDER_INDEX_DIR": str(tmp / "index")}
        cli = [sys.executable, "-m", "casefinder.cli"]
        started = time.perf_counter()
        doc_id = subprocess.run(
            cli + ["add", str(pdf), "--title", "Nye cases 2026"], env=env, check=True, capture_output=True, text=True
        ).stdout.strip()
        seconds = time.perf_counter() - started
        result = json.loads(
            subprocess.run(
                cli + ["search", QUERY, "--json"], env=env, check=True, capture_output=True, text=True
            ).stdout
        )
        rank = next((h["rank"] for h in result["hits"] if h["case"]["catalogue"] == doc_id), None)
        page = next((h["source"]["page"] for h in result["hits"] if h["case"]["catalogue"] == doc_id), None)
        print(f"added {doc_id} ({pdf.stat().st_size // 1024} KB PDF) in {seconds:.1f} s")
        print(
            f"query {QUERY!r}: rank {rank}, page {page} (expected rank 1, page 3); "
            f"top hit: {result['hits'][0]['case']['title']}"
        )


if __name__ == "__main__":
    main()
