"""JSON summary of a VTAC run: what a Burst Advocate, a dashboard or a notice builder needs, without FITS.

The layout is published as ``schemas/qpo_vt_summary.schema.json`` (JSON Schema 2020-12). Values that are
unknown are ``null``, never NaN: the file is written with ``allow_nan=False`` so strict parsers accept it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vtac.adapters.dust import galactic_ebv
from vtac.adapters.files import write_atomically
from vtac.adapters.products import sequences_in_header_order
from vtac.core.model import NULL_INT, QpoVtResult

if TYPE_CHECKING:
    from astropy.table import Row

    from vtac.adapters.trigger import TriggerTime

SCHEMA_VERSION = "2.1"
NO_XRAY_NOTE = "no X-ray position: the probabilities account for the whole VT field"
REDSHIFT_HINTS = ("z<4", "high-z", "undetermined", "no detection")


@dataclass(frozen=True)
class TimeOrigin:
    """What the light-curve times (and the decay index) count from: T0 and its source when known; else the
    fit's assumption, ``assumed_delay_s`` before the first VT stack (outputs then print times since the
    first VT stack)."""

    trigger_time: str | None = None
    source: str | None = None
    assumed_delay_s: float | None = None

    @classmethod
    def of(cls, trigger: TriggerTime | None, assumed_delay_s: float) -> TimeOrigin:
        """From the chosen T0 (None: unknown, the fit assumes ``assumed_delay_s``)."""
        if trigger is None:
            return cls(assumed_delay_s=float(assumed_delay_s))
        return cls(trigger.time.isoformat(timespec="milliseconds"), trigger.source)


def circle_label(instrument: str | None) -> str:
    """What to call an X-ray circle: its instrument (``ECLAIRs``, ``MXT``, ``WXT``...), else ``X-ray``."""
    name = (instrument or "").strip()
    return name if name and name.lower() != "unknown" else "X-ray"


def build_summary(
    result: QpoVtResult,
    *,
    version: str,
    prefetch: dict[str, str] | None = None,
    time_origin: TimeOrigin | None = None,
    xray_off_field: str | None = None,
) -> dict[str, Any]:
    """The summary as plain JSON types; candidates best first (by RANK). ``prefetch``: what the service
    fetched ahead of the VT data, by catalogue (None: nothing was); ``xray_off_field``: why the X-ray circle
    misses the VT field (None: it does not)."""
    origin = time_origin or TimeOrigin()
    seq_used = sequences_in_header_order(result.sequences)
    has_mxt = result.mxt is not None
    rows = sorted(result.candidates, key=lambda candidate: int(candidate["RANK"]))
    field_ebv, candidate_ebv = _reddening(result, rows)
    candidates = [
        {**_candidate(row, seq_used, has_mxt), "galactic_ebv": ebv}
        for row, ebv in zip(rows, candidate_ebv, strict=True)
    ]
    return {
        "schema_version": SCHEMA_VERSION,
        "burst_id": result.burst_id,
        "version": version,
        "seq_used": seq_used,
        "mxt": (
            None
            if result.mxt is None
            else {
                "ra": float(result.mxt.ra),
                "dec": float(result.mxt.dec),
                "r90_arcsec": float(result.mxt.r90_arcsec),
                "mission": result.mxt.mission,
                "instrument": result.mxt.instrument,
                "origin": result.mxt.origin,
            }
        ),
        "xray_note": None if has_mxt else NO_XRAY_NOTE,
        "xray_off_field": xray_off_field if has_mxt else None,
        "trigger_time": origin.trigger_time,
        "trigger_time_source": origin.source,
        "assumed_trigger_delay_s": origin.assumed_delay_s,
        "prefetch": prefetch,
        "catalogs": [
            {
                "name": answer.name,
                "status": answer.status.value,
                "n_sources": answer.n_sources,
                "message": answer.message,
                "truncated": bool(answer.truncated),
                "depth": _depth(result.catalog_depths.get(answer.name)),
            }
            for answer in result.catalogs
        ],
        "galactic_ebv": field_ebv,
        "p_none": _number(result.p_none),
        "verified": result.verified,
        "n_sources": len(result.combined),
        "n_rejected": int(result.n_rejected),
        "n_candidates": len(candidates),
        "candidates": candidates,
        "best_candidates": [int(vt_id) for vt_id in result.best["VT_ID"]],
        "moving_objects": [
            {"vt_id": int(row["VT_ID"]), "ra": _number(row["RA"]), "dec": _number(row["DEC"])}
            for row in result.combined
            if bool(row["MOVING"])
        ],
    }


def _depth(depth: tuple[float, float] | None) -> dict[str, float | None] | None:
    """Measured depth of a catalogue in the VT bands."""
    return None if depth is None else {"vt_r": _number(depth[0]), "vt_b": _number(depth[1])}


def write_summary(
    result: QpoVtResult,
    path: str | os.PathLike[str],
    *,
    version: str,
    prefetch: dict[str, str] | None = None,
    time_origin: TimeOrigin | None = None,
    xray_off_field: str | None = None,
) -> Path:
    """Write :func:`build_summary` as indented JSON, atomically (temporary file, then rename)."""
    summary = build_summary(
        result, version=version, prefetch=prefetch, time_origin=time_origin, xray_off_field=xray_off_field
    )
    text = json.dumps(summary, allow_nan=False, indent=2) + "\n"
    return write_atomically(path, lambda stream: stream.write(text.encode("utf-8")))


def _candidate(row: Row, seq_used: list[str], has_mxt: bool) -> dict[str, Any]:
    vt_id = int(row["VT_ID"])
    return {
        "rank": int(row["RANK"]),
        "vt_id": vt_id,
        "ra": _number(row["RA"]),
        "dec": _number(row["DEC"]),
        "probability": _number(row["PROB"]),
        # The 1.x name of the same number, kept for existing consumers.
        "score": _number(row["PROB"]),
        "reasons": [item.strip() for item in _text(row["REASONS"]).split(";") if item.strip()],
        "alpha": _number(row["ALPHA"]),
        "alpha_err": _number(row["ALPHA_ERR"]) if "ALPHA_ERR" in row.colnames else None,
        "in_mxt": {1: True, 0: False}.get(int(row["IN_MXT"])),
        "n_det": int(row["N_DET"]),
        "new_src": _split(row["NEW_SRC"]),
        "dmag_cat": _split(row["DMAG_CAT"]),
        "mag_var": _split(row["MAG_VAR"]),
        "xunknown": _split(row["XUNKNOWN"]),
        "brighter_cat": _split(row["BRIGHTER_CAT"]),
        "faded": _split(row["FADED"]),
        "brightened": _split(row["BRIGHTENED"]),
        "magnitudes": {seq: _magnitude(row, seq) for seq in seq_used},
        "b_minus_r": _number(row["B_MINUS_R"]),
        "redshift_hint": _redshift_hint(row["Z_HINT"], vt_id),
        "eflag_max": None if int(row["EFLAG_MAX"]) == NULL_INT else int(row["EFLAG_MAX"]),
        "mxt_dist_r90": _number(row["MXT_DIST"]) if has_mxt else None,
        "verified": bool(row["VERIFIED"]),
    }


def _reddening(result: QpoVtResult, rows: list[Row]) -> tuple[float | None, list[float | None]]:
    """Galactic E(B-V) at the VT field's centre (the sources' median position) and at each candidate, in one
    look-up of the map; None where unknown (4 decimals)."""
    ras = [float(row["RA"]) for row in rows]
    decs = [float(row["DEC"]) for row in rows]
    if len(result.combined):
        ras.insert(0, float(np.median(result.combined["RA"])))
        decs.insert(0, float(np.median(result.combined["DEC"])))
    values = [_number(round(float(value), 4)) for value in galactic_ebv(ras, decs)]
    field = values.pop(0) if len(result.combined) else None
    return field, values


def _magnitude(row: Row, seq: str) -> dict[str, float | None] | None:
    mag = _number(row[f"MAGCAL_{seq}"])
    return None if mag is None else {"mag": mag, "err": _number(row[f"MAGERR_{seq}"])}


def _redshift_hint(value: Any, vt_id: int) -> str | None:
    hint = _text(value)
    if not hint:
        return None
    if hint not in REDSHIFT_HINTS:
        raise ValueError(f"candidate VT_ID {vt_id}, column Z_HINT: unknown redshift hint {hint!r}")
    return hint


def _number(value: Any) -> float | None:
    """A finite float, or None for NaN and infinity (JSON has no NaN)."""
    number = float(value)
    return number if math.isfinite(number) else None


def _text(value: Any) -> str:
    return (value.decode("ascii") if isinstance(value, bytes) else str(value)).strip()


def _split(value: Any) -> list[str]:
    """'B0,R0' -> ['B0', 'R0']; also 'R1-R0,B2-B1' -> ['R1-R0', 'B2-B1']; '' -> []."""
    return [item.strip() for item in _text(value).split(",") if item.strip()]
