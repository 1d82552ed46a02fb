"""GCN Kafka style JSON notice of the VT candidates, after the conventions of nasa-gcn/gcn-schema.

It is a gcn-schema optical alert (``$schema``: ``boom/alert`` of a pinned gcn-schema release): top level the
core Alert and Reporter fields only; ``data.targets`` (core Localization and Event, classification scores,
the SVOM burst as ``gcn_crossmatch``) and ``data.photometry`` (core Photometry and DateTime, one point per
sequence: magnitude or limit). VTAC's additions (``data.burst``: T0 and its source, ``verified``, every
catalogue's status, the X-ray circle; per target ``verified``, ``decay_index``...) are described by
``schemas/vt_candidate_notice.schema.json``. The tests validate every notice against both.
"""

from __future__ import annotations

import json
from typing import Any

from vtac.adapters.extras.context import (
    POSITION_ERROR_ARCSEC,
    BurstView,
    CandidateView,
    Measurement,
    iso_utc,
)

#: The published gcn-schema type the notice is (nasa-gcn/gcn-schema, optical alert); pinned release.
SCHEMA_ID = "https://gcn.nasa.gov/schema/v7.2.3/gcn/notices/boom/alert.schema.json"
VT_BAND_NM = (400, 1000)
CLASSIFICATION = "GRB afterglow"


def build_notice(view: BurstView) -> dict[str, Any] | None:
    """The notice as plain JSON types, or None when there is no best candidate to announce."""
    best = view.best
    if best is None:
        return None
    context = view.context
    candidates = view.best_candidates()
    return {
        "$schema": SCHEMA_ID,
        "mission": "SVOM",
        "instrument": "VT",
        "messenger": "EM",
        "spectral_band": list(VT_BAND_NM),
        "spectral_band_units": "nm",
        "record_number": context.version,
        "alert_datetime": iso_utc(context.created, digits=6) + "Z",
        "alert_tense": "test" if context.simulated else "current",
        "alert_type": "initial" if context.version == 1 else "update",
        "data": {
            "burst": _burst(view, best),
            "targets": [_target(view, candidate) for candidate in candidates],
            "photometry": [
                _photometry(view, candidate, measurement)
                for candidate in candidates
                for measurement in candidate.measurements
            ],
        },
    }


def _burst(view: BurstView, best: CandidateView) -> dict[str, Any]:
    """What the notice is about and how far it was checked, machine-readable: T0 and where it came from,
    ``verified`` (a catalogue answered) and every catalogue's status, the X-ray circle searched."""
    burst: dict[str, Any] = {
        "burst_id": view.burst_id,
        "trigger_time": None if view.t0 is None else iso_utc(view.t0, digits=6) + "Z",
        "trigger_time_source": view.t0_source,
        "times_since": "T0" if view.t0_known else "first VT stack",
        "verified": view.verified,
        "catalogs": [
            {"name": c["name"], "status": c["status"], "n_sources": c["n_sources"]}
            for c in view.summary.get("catalogs", [])
        ],
        "p_none": view.summary.get("p_none"),
        "xray_circle": _xray_circle(view),
        "additional_info": _additional_info(view, best),
    }
    starts = [s.start for s in view.sequences if s.start is not None]
    if starts:
        burst["observation_start"] = iso_utc(min(starts), digits=6) + "Z"
    return burst


def _xray_circle(view: BurstView) -> dict[str, Any] | None:
    mxt = view.summary.get("mxt")
    if not mxt:
        return None
    return {
        "instrument": view.xray_label,
        "mission": mxt.get("mission"),
        "ra": round(float(mxt["ra"]), 6),
        "dec": round(float(mxt["dec"]), 6),
        "r90_arcsec": round(float(mxt["r90_arcsec"]), 2),
        "in_vt_field": not view.xray_off_field,
    }


def notice_json(notice: dict[str, Any]) -> str:
    """Indented JSON, no NaN (strict parsers reject it)."""
    return json.dumps(notice, indent=2, allow_nan=False) + "\n"


def target_name(burst_id: str, vt_id: int) -> str:
    """How a candidate is named in the notice: ``<burst>-VT<VT_ID>``."""
    return f"{burst_id}-VT{vt_id}"


def _target(view: BurstView, candidate: CandidateView) -> dict[str, Any]:
    target: dict[str, Any] = {
        "event_name": target_name(view.burst_id, candidate.vt_id),
        "id": [view.burst_id],
        "ra": round(candidate.ra, 6),
        "dec": round(candidate.dec, 6),
        "ra_dec_error": round(POSITION_ERROR_ARCSEC / 3600.0, 6),
        "containment_probability": 0.9,
        "systematic_included": True,
        "gcn_crossmatch": [{"ref_type": "GRB", "ref_instrument": "SVOM", "ref_ID": view.burst_id}],
        "rank": candidate.rank,
        "vt_id": candidate.vt_id,
        "verified": bool(candidate.data.get("verified", view.verified)),
        "redshift_hint": candidate.redshift_hint or "undetermined",
        "reasons": candidate.reasons,
    }
    if candidate.probability is not None:
        target["classification_scores"] = {CLASSIFICATION: round(candidate.probability, 4)}
    if candidate.b_minus_r is not None:
        target["vt_b_minus_vt_r"] = round(candidate.b_minus_r, 3)
    if candidate.reddening is not None:
        target["galactic_ebv"] = round(candidate.reddening.ebv_sfd, 4)
    decay = candidate.decay
    if decay is not None:
        target["decay_index"] = round(decay.alpha, 3)
        if decay.alpha_err is not None:
            target["decay_index_error"] = round(decay.alpha_err, 3)
    return target


def _photometry(view: BurstView, candidate: CandidateView, measurement: Measurement) -> dict[str, Any]:
    sequence = measurement.sequence
    point: dict[str, Any] = {
        "event_name": target_name(view.burst_id, candidate.vt_id),
        "mission": "SVOM",
        "instrument": "VT",
        "telescope": "SVOM Visible Telescope",
        "filter": sequence.band_name,
        "sequence": sequence.name,
        "mag_system": "AB",
    }
    if sequence.start is not None:
        point["observation_start"] = iso_utc(sequence.start, digits=6) + "Z"
    if sequence.exposure_s is not None:
        point["observation_livetime"] = sequence.exposure_s
    if view.t0 is not None:
        point["trigger_time"] = iso_utc(view.t0, digits=6) + "Z"
        if sequence.t_mid_s is not None:
            point["t_mid_since_trigger"] = round(sequence.t_mid_s, 1)
    if measurement.mag is not None:
        point["mag"] = round(measurement.mag, 3)
        if measurement.err is not None:
            point["mag_error"] = round(measurement.err, 3)
    if sequence.maglim is not None:
        point["limiting_mag"] = round(sequence.maglim, 2)
    return point


def _additional_info(view: BurstView, best: CandidateView) -> str:
    failed = [c["name"] for c in view.summary.get("catalogs", []) if c["status"] != "ok"]
    text = (
        f"VT best candidate (VTAC) of {view.burst_id}, version {view.context.version}: "
        f"VT_ID {best.vt_id}, {len(view.candidates)} candidate(s). Magnitudes AB, not corrected for "
        f"Galactic extinction; {view.times_since}."
    )
    if failed:
        text += f" Catalogues not usable: {', '.join(failed)}."
    if not view.verified:
        text += " UNVERIFIED: no reference catalogue answered."
    return text
