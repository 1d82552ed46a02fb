"""GCN Kafka style JSON notice of the VT candidates, after the conventions of nasa-gcn/gcn-schema.

Top level as the SVOM trigger notices (core Alert, Event, Reporter, DateTime, Localization: the best
candidate's position), and a ``data`` block as the optical-alert (BOOM) schema: ``targets`` with
classification scores, ``photometry`` with one point per sequence (magnitude or limit). The layout is
published as ``schemas/vt_candidate_notice.schema.json``; the tests validate every notice against it.
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

SCHEMA_ID = "https://svom.eu/schema/vtac/gcn/notices/svom/vt/candidate.schema.json"
VT_BAND_NM = (400, 1000)
CLASSIFICATION = "GRB afterglow"


def build_notice(view: BurstView) -> dict[str, Any] | None:
    """The notice as plain JSON types, or None when there is no best candidate to announce."""
    best = view.best
    if best is None:
        return None
    context = view.context
    notice: dict[str, Any] = {
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
        "id": [view.burst_id],
        "ra": round(best.ra, 6),
        "dec": round(best.dec, 6),
        "ra_dec_error": round(POSITION_ERROR_ARCSEC / 3600.0, 6),
        "containment_probability": 0.9,
        "systematic_included": True,
    }
    if context.t0 is not None:
        notice["trigger_time"] = iso_utc(context.t0, digits=6) + "Z"
    starts = [s.start for s in view.sequences if s.start is not None]
    if starts:
        notice["observation_start"] = iso_utc(min(starts), digits=6) + "Z"
    notice["additional_info"] = _additional_info(view, best)
    candidates = view.best_candidates()
    notice["data"] = {
        "targets": [_target(view, candidate) for candidate in candidates],
        "photometry": [
            _photometry(view, candidate, measurement)
            for candidate in candidates
            for measurement in candidate.measurements
        ],
    }
    return notice


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
        "rank": candidate.rank,
        "vt_id": candidate.vt_id,
        "redshift_hint": candidate.redshift_hint or "undetermined",
        "reasons": candidate.reasons,
    }
    if candidate.probability is not None:
        target["classification_scores"] = {CLASSIFICATION: round(candidate.probability, 4)}
    if candidate.b_minus_r is not None:
        target["vt_b_minus_vt_r"] = round(candidate.b_minus_r, 3)
    if candidate.decay is not None:
        target["decay_index"] = round(candidate.decay.alpha, 3)
        target["decay_index_error"] = round(candidate.decay.alpha_err, 3)
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
    if sequence.t_mid_s is not None and view.t0_known:
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
        "Galactic extinction."
    )
    if failed:
        text += f" Catalogues not usable: {', '.join(failed)}."
    return text
