"""The one settings object: contradictions and nonsense are refused at start, naming the
variable; every setting is documented in README; the shipped judge is the one report.md describes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from casefinder.config import Settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "values,named",
    [
        ({"chunk_size": 500, "chunk_overlap": 500}, "CASEFINDER_CHUNK_OVERLAP"),
        ({"dense_weight": 0.8, "dense_weight_unknown": 0.5}, "CASEFINDER_DENSE_WEIGHT_UNKNOWN"),
        ({"faiss_index": "hnws"}, "faiss_index"),
        ({"max_k": 0}, "max_k"),
        ({"max_query_chars": 10**9}, "max_query_chars"),
        ({"embed_batch_size": 0}, "embed_batch_size"),
        ({"query_cache_size": -1}, "query_cache_size"),
        ({"chunk_size": 10}, "chunk_size"),
    ],
)
def test_a_setting_that_makes_no_sense_is_refused_naming_it(values, named):
    with pytest.raises(ValidationError, match=named):
        Settings(**values)


def test_every_setting_is_documented_in_readme():
    readme = (ROOT / "README.md").read_text("utf-8")
    documented = set(re.findall(r"CASEFINDER_([A-Z0-9_]+)", readme))
    for row in re.findall(r"^\| `CASEFINDER_[^|]+\|", readme, re.M):  # "`CASEFINDER_A` / `_B`" rows
        documented |= {name.lstrip("_") for name in re.findall(r"`(?:CASEFINDER)?(_[A-Z0-9_]+)`", row)}
    missing = sorted(name for name in Settings.model_fields if name.upper() not in documented)
    assert not missing, f"README nævner ikke CASEFINDER_{', CASEFINDER_'.join(m.upper() for m in missing)}"


def test_the_shipped_judge_weights_are_those_of_the_calibration_report():
    report = (ROOT / "bench" / "calibration" / "report.md").read_text("utf-8")
    reported = json.loads(re.search(r"`CASEFINDER_CONFIDENCE`\): `(\{.*?\})`", report).group(1))
    assert Settings().confidence.model_dump() == pytest.approx(reported)
