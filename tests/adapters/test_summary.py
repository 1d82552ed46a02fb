"""JSON summary: what a Burst Advocate reads, nulls instead of NaN, the published schema the model's."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest
from paths import REPO
from results import make_result

from vtac.adapters.summary import build_summary, summary_json_schema
from vtac.core.records import CatalogStatus
from vtac.entrypoints.schema import json_schemas
from vtac.provenance import CodeVersion

SCHEMA_PATH = REPO / "schemas" / "qpo_vt_summary.schema.json"
CODE = CodeVersion("0.1.0", "0123456789abcdef0123456789abcdef01234567")


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def _written(result=None) -> dict:
    return json.loads(build_summary(result or make_result(), code=CODE).json_bytes())


def test_every_published_schema_is_the_one_generated_from_its_model():
    for stem, schema in json_schemas().items():
        published = json.loads((SCHEMA_PATH.parent / f"{stem}.schema.json").read_text(encoding="utf-8"))
        assert published == schema, f"{stem}: regenerate it with `vtac schema --out schemas`"
    assert json_schemas()["qpo_vt_summary"] == summary_json_schema()


def test_written_summary_validates_against_the_schema(validator):
    validator.validate(_written())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"with_mxt": False},
        {"statuses": {}, "candidate_rows": (), "n_best": 0},
        {"statuses": {"SDSS12": CatalogStatus.FAILED}, "sequences": ("B0",)},
    ],
    ids=["no-mxt", "nothing-found", "unverified-one-sequence"],
)
def test_degenerate_runs_validate_too(validator, kwargs):
    validator.validate(_written(make_result(**kwargs)))


def test_schema_rejects_what_the_writer_never_emits(validator):
    summary = build_summary(make_result(), code=CODE).document()
    bad_status = json.loads(json.dumps(summary))
    bad_status["catalogs"][0]["status"] = "timeout"
    bad_hint = json.loads(json.dumps(summary))
    bad_hint["candidates"][0]["redshift_hint"] = "z~5"
    extra_key = dict(summary, surprise=1)
    for document in (bad_status, bad_hint, extra_key):
        assert not validator.is_valid(document)


def test_top_level_content():
    summary = _written()
    assert summary["burst_id"] == "sb25020504"
    assert (summary["version"], summary["commit"]) == ("0.1.0", CODE.commit)
    assert summary["seq_used"] == ["B0", "R0", "B1", "R1"]
    assert summary["mxt"] == {
        "ra": 212.6408,
        "dec": 29.6971,
        "r90_arcsec": 41.0,
        "mission": "SVOM",
        "instrument": "MXT",
        "origin": "",
    }
    assert summary["catalogs"] == [
        {"name": "LSDR10", "status": "ok", "n_sources": 7, "message": "", "truncated": False, "depth": None},
        {
            "name": "SDSS12",
            "status": "failed",
            "n_sources": 0,
            "message": "HTTP 503 from the service",
            "truncated": False,
            "depth": None,
        },
        {
            "name": "PS1DR1",
            "status": "not_covered",
            "n_sources": 0,
            "message": "HTTP 503 from the service",
            "truncated": False,
            "depth": None,
        },
    ]
    assert (summary["verified"], summary["n_sources"], summary["n_rejected"]) == (True, 5, 3)
    assert summary["best_candidates"] == [1, 2]
    assert [c["rank"] for c in summary["candidates"]] == [1, 2, 3]


def test_candidate_fields():
    first, second, _ = _written()["candidates"]
    assert (first["vt_id"], first["in_mxt"], second["in_mxt"]) == (1, True, False)
    assert first["ra"] == pytest.approx(212.6401)
    assert first["probability"] == first["score"] == pytest.approx(0.6)
    assert first["reasons"] == [
        "uncatalogued in SDSS12 to 22.1, 4 sequences",
        "detected in both VT_R and VT_B",
    ]
    assert first["alpha"] == pytest.approx(1.1)
    assert first["new_src"] == ["R0", "B0", "R1", "B1"]
    assert first["mag_var"] == ["R0-R1", "B0-B1"]
    assert second["dmag_cat"] == ["B0"] and second["new_src"] == [] and second["mag_var"] == []
    assert first["magnitudes"]["R1"] == {"mag": pytest.approx(18.8), "err": pytest.approx(0.02)}
    assert second["magnitudes"]["R1"] is None  # not detected in R1
    assert list(first["magnitudes"]) == ["B0", "R0", "B1", "R1"]
    assert (first["b_minus_r"], first["redshift_hint"], first["eflag_max"]) == (0.5, "z<4", 0)
    assert (first["mxt_dist_r90"], first["verified"], first["n_det"]) == (0.4, True, 4)


def test_nan_and_null_become_json_null():
    result = make_result()
    result.candidates["PROB"][0] = np.inf
    result.candidates["MAGERR_R0"][0] = np.nan
    text = build_summary(result, code=CODE).json_bytes().decode("utf-8")
    assert "NaN" not in text and "Infinity" not in text
    first, _, third = json.loads(text)["candidates"]
    assert first["probability"] is None
    assert first["magnitudes"]["R0"] == {"mag": pytest.approx(18.5), "err": None}
    assert (third["b_minus_r"], third["eflag_max"], third["redshift_hint"]) == (None, None, "undetermined")


def test_without_mxt_distances_and_membership_are_null():
    summary = _written(make_result(with_mxt=False))
    assert summary["mxt"] is None
    assert {(c["in_mxt"], c["mxt_dist_r90"]) for c in summary["candidates"]} == {(None, None)}


def test_candidates_are_sorted_best_first():
    result = make_result()
    result.candidates.reverse()
    assert [c["rank"] for c in _written(result)["candidates"]] == [1, 2, 3]


def test_empty_redshift_hint_is_null_and_unknown_one_is_refused():
    result = make_result()
    result.candidates["Z_HINT"][0] = ""
    assert build_summary(result, code=CODE).candidates[0].redshift_hint is None
    result.candidates["Z_HINT"][0] = "z~5"
    with pytest.raises(ValueError, match="VT_ID 1, column Z_HINT: unknown redshift hint 'z~5'"):
        build_summary(result, code=CODE)


def test_byte_strings_from_fits_are_read_as_text():
    result = make_result()
    result.candidates["NEW_SRC"] = result.candidates["NEW_SRC"].astype("S30")
    assert build_summary(result, code=CODE).candidates[0].new_src == ["R0", "B0", "R1", "B1"]
