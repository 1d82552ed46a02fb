"""VOEvent, GCN notice and circular draft of a burst, from real runs of the job on simulated bursts.

Every VOEvent is validated against the IVOA VOEvent 2.0 XSD, every notice against the published schema.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime
from typing import Any

import jsonschema
import pytest
from extras_cases import GCN_SCHEMA, NOTICE_SCHEMA, XSD, run_simulated
from lxml import etree
from referencing import Registry, Resource
from results import make_result

from vtac.adapters.extras.circular import build_circular
from vtac.adapters.extras.context import BurstView, ExtrasContext, VersionEntry, burst_view, n_frames
from vtac.adapters.extras.gcn_notice import build_notice, notice_json
from vtac.adapters.extras.voevent import build_voevent, ivorn
from vtac.adapters.summary import build_summary
from vtac.adapters.trigger import parse_t0
from vtac.core.records import CatalogStatus
from vtac.errors import InputError
from vtac.provenance import CodeVersion

NS = {"voe": "http://www.ivoa.net/xml/VOEvent/v2.0"}

CODE = CodeVersion("0", "unknown")


@pytest.fixture(scope="module")
def glow(tmp_path_factory):
    return run_simulated(tmp_path_factory.mktemp("glow"))


@pytest.fixture(scope="module")
def dark(tmp_path_factory):
    return run_simulated(tmp_path_factory.mktemp("dark"), afterglow=False)


@pytest.fixture(scope="module")
def xsd():
    return etree.XMLSchema(etree.parse(str(XSD)))


@pytest.fixture(scope="module")
def gcn_validator():
    """The published gcn-schema optical alert type (v7.2.3, vendored from npm), its core $refs resolved."""
    resources = [
        (schema["$id"], Resource.from_contents(schema))
        for schema in (
            json.loads(path.read_text(encoding="utf-8")) for path in GCN_SCHEMA.rglob("*.schema.json")
        )
    ]
    registry = Registry().with_resources(resources)
    schema = json.loads((GCN_SCHEMA / "gcn/notices/boom/alert.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema, registry=registry)


@pytest.fixture(scope="module")
def notice_validator():
    schema = json.loads(NOTICE_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def view_of(run, summary=None, **context):
    return burst_view(run.result, summary or run.summary, ExtrasContext(**context))


def notice_of(view: BurstView) -> dict[str, Any]:
    """The GCN notice of a view that has a best candidate (build_notice gives None only without one)."""
    notice = build_notice(view)
    assert notice is not None
    return notice


def param(root, group: str | None, name: str) -> str:
    path = "What" + (f"/Group[@name='{group}']" if group else "") + f"/Param[@name='{name}']"
    (element,) = root.findall(path)
    return element.get("value")


# ------------------------------------------------------------------------------------------------ VOEvent
@pytest.mark.parametrize(
    ("context", "role"),
    [
        ({"simulated": True, "version": 1}, "test"),
        ({"simulated": False, "version": 3}, "observation"),
        ({"simulated": True, "version": 2, "t0": None}, "test"),
    ],
    ids=["simulated-v1", "real-v3", "no-t0"],
)
def test_every_voevent_validates_against_the_xsd(glow, xsd, context, role):
    context = {"t0": glow.t0, **context}
    packet = build_voevent(view_of(glow, **context))
    root = etree.fromstring(packet)
    assert xsd.validate(root), xsd.error_log
    assert root.get("role") == role
    assert root.get("ivorn") == ivorn("sb26050905", context["version"])


def test_the_xsd_refuses_a_packet_with_a_wrong_role(glow, xsd):
    root = etree.fromstring(build_voevent(view_of(glow, t0=glow.t0)))
    root.set("role", "simulation")
    assert not xsd.validate(root)


def test_voevent_says_where_the_afterglow_is_and_how_bright(glow):
    root = etree.fromstring(build_voevent(view_of(glow, t0=glow.t0, simulated=True)))
    best = glow.summary["candidates"][0]
    position = root.find("WhereWhen/ObsDataLocation/ObservationLocation/AstroCoords/Position2D")
    assert float(position.findtext("Value2/C1")) == pytest.approx(best["ra"], abs=1e-6)
    assert float(position.findtext("Value2/C2")) == pytest.approx(best["dec"], abs=1e-6)
    assert float(position.findtext("Error2Radius")) * 3600 == pytest.approx(0.5, abs=0.01)
    iso = root.findtext("WhereWhen/ObsDataLocation/ObservationLocation/AstroCoords/Time/TimeInstant/ISOTime")
    assert iso.startswith(glow.spec.t0)
    assert param(root, None, "Packet_Type") == "211"
    assert param(root, "Svom_Identifiers", "Burst_Id") == "sb26050905"
    assert param(root, "Svom_Identifiers", "Notice_Level") == "N2v"
    assert float(param(root, "Candidate_Info", "Probability")) == pytest.approx(best["score"], abs=1e-4)
    assert param(root, "Candidate_Info", "Redshift_Hint") == best["redshift_hint"]
    assert float(param(root, "Candidate_Info", "VT_B_minus_VT_R")) == pytest.approx(best["b_minus_r"], 1e-3)
    for seq, value in best["magnitudes"].items():
        band = "VT_R" if seq[0] == "R" else "VT_B"
        assert float(param(root, f"{band}_{seq}", "Mag")) == pytest.approx(value["mag"], abs=1e-3)
    assert 0.8 < float(param(root, "Candidate_Info", "Decay_Index")) < 1.2  # injected alpha = 1


def test_voevent_prefers_the_rankings_probability_and_lists_its_reasons(glow, xsd):
    summary = copy.deepcopy(glow.summary)
    summary["candidates"][0]["probability"] = 0.42
    summary["candidates"][0]["reasons"] = ["uncatalogued in 8 sequences", "fading"]
    root = etree.fromstring(build_voevent(view_of(glow, summary, t0=glow.t0)))
    assert xsd.validate(root), xsd.error_log
    assert param(root, "Candidate_Info", "Probability") == "0.42"
    assert root.find("Why/Inference").get("probability") == "0.4200"
    assert [d.text for d in root.findall("What/Group[@name='Candidate_Info']/Description")] == [
        "uncatalogued in 8 sequences",
        "fading",
    ]


def test_a_later_version_supersedes_only_the_voevents_that_were_issued(glow):
    first = etree.fromstring(build_voevent(view_of(glow, version=1)))
    # v1 issued a VOEvent; v2 had none (no best candidate, or its extras were superseded before drawing)
    history = [VersionEntry(1, voevent=True), VersionEntry(2, voevent=False)]
    third = etree.fromstring(build_voevent(view_of(glow, version=3, history=history)))
    assert first.find("Citations") is None
    cited = third.findall("Citations/EventIVORN")
    assert [(c.get("cite"), c.text) for c in cited] == [("supersedes", ivorn("sb26050905", 1))]
    nothing_issued = etree.fromstring(build_voevent(view_of(glow, version=3, history=history[1:])))
    assert nothing_issued.find("Citations") is None


def test_voevent_and_notice_say_machine_readably_what_was_checked(glow):
    summary = copy.deepcopy(glow.summary)
    summary["verified"] = False
    for catalog in summary["catalogs"]:
        catalog["status"] = "failed"
    root = etree.fromstring(build_voevent(view_of(glow, summary)))
    assert param(root, "VTAC_Checks", "Verified") == "false"
    assert param(root, "VTAC_Checks", "Catalog_SDSS12") == "failed"
    assert param(root, "VTAC_Checks", "Xray_Circle_In_VT_Field") == "true"
    burst = notice_of(view_of(glow, summary))["data"]["burst"]
    assert burst["verified"] is False
    assert burst["catalogs"] == [
        {"name": "SDSS12", "status": "failed", "n_sources": summary["catalogs"][0]["n_sources"]}
    ]
    assert "UNVERIFIED" in burst["additional_info"]
    checked = etree.fromstring(build_voevent(view_of(glow)))
    assert param(checked, "VTAC_Checks", "Verified") == "true"
    assert notice_of(view_of(glow))["data"]["burst"]["verified"] is True


def test_no_best_candidate_no_voevent_and_no_notice(dark):
    view = view_of(dark)
    assert view.best is None
    assert build_voevent(view) is None
    assert build_notice(view) is None


# ------------------------------------------------------------------------------------------- GCN notice
def test_every_notice_validates_against_the_published_schema(glow, notice_validator, gcn_validator):
    summary = copy.deepcopy(glow.summary)
    summary["candidates"][0]["probability"] = 0.9
    summary["candidates"][0]["reasons"] = ["new in VT_R and VT_B"]
    for view in (
        view_of(glow, t0=glow.t0, simulated=True),
        view_of(glow, version=4),
        view_of(glow, summary, t0=glow.t0),
    ):
        notice = notice_of(view)
        notice_validator.validate(notice)
        gcn_validator.validate(notice)
        assert notice["$schema"] == gcn_validator.schema["$id"]
        assert json.loads(notice_json(notice)) == notice


def test_gcn_schema_refuses_what_the_optical_alert_type_does_not_define(glow, gcn_validator):
    notice = notice_of(view_of(glow, t0=glow.t0))
    assert not gcn_validator.is_valid(dict(notice, trigger_time="2026-05-09T21:51:09Z"))
    assert not gcn_validator.is_valid(dict(notice, alert_tense="maybe"))


def test_notice_content_follows_gcn_conventions(glow):
    notice = notice_of(view_of(glow, t0=glow.t0, simulated=True, version=2))
    best = glow.summary["candidates"][0]
    assert notice["alert_tense"] == "test"
    assert notice["alert_type"] == "update"
    assert notice["record_number"] == 2
    (target,) = notice["data"]["targets"]
    assert target["id"] == ["sb26050905"]
    assert target["gcn_crossmatch"] == [{"ref_type": "GRB", "ref_instrument": "SVOM", "ref_ID": "sb26050905"}]
    assert (target["ra"], target["dec"]) == (round(best["ra"], 6), round(best["dec"], 6))
    assert notice["data"]["burst"]["trigger_time"].startswith(glow.spec.t0)
    assert notice["data"]["photometry"][0]["trigger_time"].startswith(glow.spec.t0)
    assert target["classification_scores"] == {"GRB afterglow": round(best["score"], 4)}
    assert target["event_name"] == f"sb26050905-VT{best['vt_id']}"
    points = notice["data"]["photometry"]
    assert {p["sequence"] for p in points if "mag" in p} == set(best["magnitudes"])
    assert all(p["mag_system"] == "AB" for p in points)
    real = notice_of(view_of(glow))
    assert (real["alert_tense"], real["alert_type"]) == ("current", "initial")


def test_the_schema_refuses_what_the_builder_never_writes(glow, notice_validator):
    notice = notice_of(view_of(glow, t0=glow.t0))
    no_target = copy.deepcopy(notice)
    no_target["data"]["targets"] = []
    bad_tense = dict(notice, alert_tense="planned")
    mag_error_alone = copy.deepcopy(notice)
    del mag_error_alone["data"]["photometry"][0]["mag"]
    for document in (no_target, bad_tense, mag_error_alone, dict(notice, surprise=1)):
        assert not notice_validator.is_valid(document)


# ----------------------------------------------------------------------------------------------- circular
def test_circular_draft_has_what_a_ba_writes(glow):
    text = build_circular(view_of(glow, t0=glow.t0))
    flat = " ".join(text.split())
    best = glow.summary["candidates"][0]
    assert text.startswith("DRAFT")
    assert f"{best['ra']:.5f} deg = 14:22:" in text
    assert f"{best['dec']:+.5f} deg = +53:0" in text
    assert "uncertainty of 0.50 arcsec" in text
    assert "T0 = 2026-05-09T21:51:09 UTC" in flat
    assert "not corrected for Galactic extinction" in flat
    ebv = glow.summary["galactic_ebv"]
    assert f"E(B-V) = {ebv:.3f} mag (Schlegel et al. 1998; {0.86 * ebv:.3f} on the Schlafly" in flat
    assert "redshift below ~4" in flat
    assert "faded during the VT observations" in flat
    assert "Reference catalogues checked: SDSS DR12" in flat
    rows = [line for line in text.splitlines() if line.startswith("2026-05-09T") and "x50 s" in line]
    assert len(rows) == 4
    first = rows[0].split()
    # the first stack starts 3 min after T0 and lasts 6 x 50 s: mid-time 5.50 min
    assert first[1:3] == ["5.50", "6x50"]
    b0, r0 = best["magnitudes"]["B0"], best["magnitudes"]["R0"]
    assert f"{b0['mag']:.2f} ± {b0['err']:.2f}" in rows[0]
    assert rows[0].rstrip().endswith(f"{r0['mag']:.2f} ± {r0['err']:.2f}")
    assert "SIMULATED" not in text
    assert "SIMULATED" in build_circular(view_of(glow, simulated=True))


def test_circular_says_a_catalogue_failed_and_times_without_t0(glow):
    summary = copy.deepcopy(glow.summary)
    summary["catalogs"].append(
        {"name": "PS1DR1", "status": "failed", "n_sources": 0, "message": "HTTP 503", "truncated": False}
    )
    summary["catalogs"].append(
        {"name": "LSDR10", "status": "not_covered", "n_sources": 0, "message": "", "truncated": False}
    )
    text = " ".join(build_circular(view_of(glow, summary)).split())
    assert "Pan-STARRS1 DR1 (FAILED: HTTP 503; not used)" in text
    assert "Legacy Survey DR10 (does not cover the field)" in text
    assert "T-first VT stack (min)" in text
    assert "T0 unknown to VTAC: times below are since the first VT stack" in text


def test_circular_of_a_dark_field_gives_the_stacks_searched_and_their_limits(dark):
    text = build_circular(view_of(dark))
    flat = " ".join(text.split())
    assert "upper limits" in flat
    assert "VTAC ranks no VT source inside the MXT error circle as a likely optical afterglow" in flat
    assert "No uncatalogued or variable source was found" not in flat
    rows = [line for line in text.splitlines() if line.startswith("2026-") and "x50 s" in line]
    assert len(rows) == len(dark.result.sequences)
    assert all("> " in row and ("VT_R" in row or "VT_B" in row) for row in rows)
    assert f"Galactic reddening in this direction is E(B-V) = {dark.summary['galactic_ebv']:.3f} mag" in flat
    unknown = build_circular(view_of(dark, dict(dark.summary, galactic_ebv=None)))
    assert "Galactic reddening in this direction is unknown to VTAC" in " ".join(unknown.split())


def test_circular_names_flagged_sources_that_are_not_best(glow):
    summary = copy.deepcopy(glow.summary)
    other = dict(summary["candidates"][0], rank=2, vt_id=999, new_src=["R0", "B0"], probability=0.01)
    summary["candidates"].append(other)
    flat = " ".join(build_circular(view_of(glow, summary, t0=glow.t0)).split())
    assert "Other flagged sources, not ranked as likely afterglows: VT_ID" in flat
    assert "VT_ID 999 (new in R0, B0" in flat


def test_a_circle_outside_the_field_is_said_and_no_limit_claimed(dark):
    summary = dict(
        dark.summary, xray_off_field="the MXT circle is 40' from the VT field centre: wrong burst?"
    )
    summary["mxt"] = dict(summary["mxt"], instrument="ECLAIRs")
    flat = " ".join(build_circular(view_of(dark, summary)).split())
    assert "the ECLAIRs error circle lies outside the VT field" in flat
    assert "VT did not observe it, and no limit is given for it" in flat
    assert "> 2" not in flat and "upper limits" not in flat


def test_circular_of_an_unverified_run_says_so():
    result = make_result(statuses={}, n_best=1)
    text = build_circular(burst_view(result, build_summary(result, code=CODE).document(), ExtrasContext()))
    assert "UNVERIFIED" in text


# -------------------------------------------------------------------------------------- decay and inputs
def test_frames_of_an_exposure():
    assert n_frames(300.0) == 6
    assert n_frames(None) is None
    assert n_frames(float("nan")) is None


def test_t0_parsing_and_a_summary_of_another_burst_are_refused(glow):
    assert parse_t0("2026-05-09T21:51:09Z") == datetime(2026, 5, 9, 21, 51, 9)
    with pytest.raises(InputError, match="--t0"):
        parse_t0("yesterday")
    with pytest.raises(InputError, match="burst_id"):
        burst_view(glow.result, dict(glow.summary, burst_id="sb00000000"), ExtrasContext())


def test_failed_catalogue_in_a_small_result_still_gives_valid_packets(xsd, notice_validator):
    result = make_result(statuses={"SDSS12": CatalogStatus.OK, "PS1DR1": CatalogStatus.FAILED}, n_best=1)
    view = burst_view(result, build_summary(result, code=CODE).document(), ExtrasContext(version=2))
    assert xsd.validate(etree.fromstring(build_voevent(view))), xsd.error_log
    notice = notice_of(view)
    notice_validator.validate(notice)
    assert "Catalogues not usable: PS1DR1" in notice["data"]["burst"]["additional_info"]
