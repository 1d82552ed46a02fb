"""The burst page: one self-contained HTML file (images as data URIs, no script, no external resource).

Everything that came from an input (burst id, catalogue messages, reasons) is escaped by jinja2's
autoescape; a failed or uncovering catalogue is listed with its status, never left out.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from importlib import resources
from typing import Any

from jinja2 import Environment, StrictUndefined

from vtac.adapters.extras.context import (
    BurstView,
    CandidateView,
    VersionEntry,
    iso_utc,
    neighbour_text,
    sexagesimal_dec,
    sexagesimal_ra,
)
from vtac.adapters.survey import SurveyImage

TEMPLATE = ("data", "templates", "burst_page.html")
#: Without any VT source (or where the map has no value) the page says so rather than guess.
EXTINCTION_UNKNOWN = "Galactic E(B-V) unknown (no VT source position to look it up)"
STATUS_TEXT = {"ok": "ok", "failed": "FAILED", "not_covered": "NOT COVERED"}


def build_page(
    view: BurstView,
    *,
    chart_png: bytes | None,
    light_curves: Mapping[int, bytes],
    circular: str,
    links: Mapping[str, str],
    survey: SurveyImage | None = None,
) -> str:
    """The page as HTML text. ``light_curves`` maps VT_ID to PNG bytes; ``links`` label to address."""
    environment = Environment(autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True)
    template = environment.from_string(
        resources.files("vtac").joinpath(*TEMPLATE).read_text(encoding="utf-8")
    )
    context = view.context
    best = set(view.best_ids)
    p_none = view.summary.get("p_none")
    return template.render(
        burst_id=view.burst_id,
        version=context.version,
        simulated=context.simulated,
        created=iso_utc(context.created, digits=0),
        t0=_t0_text(view),
        times_since=view.times_since,
        p_none=f"{float(p_none):.3f}" if p_none is not None else None,
        xray_label=view.xray_label,
        xray_off_field=view.xray_off_field,
        extinction=_extinction_text(view),
        field_ebv=f"{view.reddening.ebv_sfd:.3f}" if view.reddening is not None else None,
        seq_used=view.summary.get("seq_used", []),
        n_sources=view.summary.get("n_sources", 0),
        n_rejected=view.summary.get("n_rejected", 0),
        mxt=view.summary.get("mxt"),
        verified=view.summary.get("verified", False),
        candidates=[_candidate_row(view, c, c.vt_id in best) for c in view.candidates],
        catalogs=[
            dict(c, status_text=STATUS_TEXT.get(c["status"], c["status"]))
            for c in view.summary.get("catalogs", [])
        ],
        chart=_data_uri(chart_png) if chart_png else None,
        survey=None
        if survey is None
        else {"image": _data_uri(survey.jpeg, "image/jpeg"), "caption": survey.caption},
        light_curves=[
            {
                "vt_id": c.vt_id,
                "rank": c.rank,
                "image": _data_uri(light_curves[c.vt_id]),
                "caption": _caption(c),
            }
            for c in view.best_candidates()
            if c.vt_id in light_curves
        ],
        links=[{"label": label, "href": href} for label, href in links.items()],
        history=_history(view),
        circular=circular,
    )


def _t0_text(view: BurstView) -> str | None:
    if view.t0 is None:
        return None
    source = f" (from {view.t0_origin})" if view.t0_origin else ""
    return f"{iso_utc(view.t0, digits=0)} UTC{source}"


def links_out(ra: float, dec: float) -> list[dict[str, str]]:
    """Where a BA looks at a position: Aladin Lite, the Legacy Survey viewer, PS1 cutouts, SIMBAD, NED."""
    position = f"{ra:.6f}%20{dec:+.6f}".replace("+", "%2B")
    return [
        {"label": "Aladin", "href": f"https://aladin.cds.unistra.fr/AladinLite/?target={position}&fov=0.05"},
        {
            "label": "Legacy Survey",
            "href": f"https://www.legacysurvey.org/viewer?ra={ra:.6f}&dec={dec:.6f}&layer=ls-dr10&zoom=16",
        },
        {
            "label": "PS1",
            "href": f"https://ps1images.stsci.edu/cgi-bin/ps1cutouts?pos={position}&filter=color&size=240",
        },
        {
            "label": "SIMBAD",
            "href": "https://simbad.cds.unistra.fr/simbad/sim-coo"
            f"?Coord={position}&Radius=10&Radius.unit=arcsec",
        },
        {
            "label": "NED",
            "href": "https://ned.ipac.caltech.edu/conesearch?search_type=Near%20Position%20Search"
            f"&ra={ra:.6f}d&dec={dec:.6f}d&radius=0.17&in_csys=Equatorial&in_equinox=J2000",
        },
    ]


def _catalogued_text(view: BurstView, candidate: CandidateView) -> str:
    """``uncatalogued`` (new in a sequence), ``catalogued``, or ``unverified`` when no catalogue answered."""
    if not candidate.data.get("verified", view.verified):
        return "unverified"
    return "uncatalogued" if candidate.data.get("new_src") else "catalogued"


def _extinction_text(view: BurstView) -> str:
    """E(B-V) of the field (its centre: the map's pixels are larger than the field)."""
    reddening = view.reddening
    if reddening is None:
        return EXTINCTION_UNKNOWN
    return f"{reddening.text()} in this field; magnitudes and colours not corrected"


def _colour_text(candidate: CandidateView) -> str:
    """The colour and its redshift hint (the field's E(B-V) heads the column)."""
    colour = f"{candidate.b_minus_r:.2f}" if candidate.b_minus_r is not None else "-"
    return f"{colour} ({candidate.redshift_hint or '-'})"


def _candidate_row(view: BurstView, candidate: CandidateView, is_best: bool) -> dict[str, Any]:
    data = candidate.data
    evidence = [
        f"{label}: {', '.join(data.get(key) or [])}"
        for key, label in (("new_src", "new"), ("dmag_cat", "differs from catalogue"), ("mag_var", "varies"))
        if data.get(key)
    ]
    if data.get("eflag_max"):
        evidence.append(f"flagged (EFLAG {data['eflag_max']})")
    return {
        "rank": candidate.rank,
        "vt_id": candidate.vt_id,
        "ra": candidate.ra,
        "dec": candidate.dec,
        "ra_hms": sexagesimal_ra(candidate.ra),
        "dec_dms": sexagesimal_dec(candidate.dec),
        "probability": f"{candidate.probability:.3f}" if candidate.probability is not None else "-",
        "best": is_best,
        "in_mxt": _in_mxt(data.get("in_mxt")),
        "evidence": "; ".join(evidence) or "-",
        "colour": _colour_text(candidate),
        "reasons": candidate.reasons,
        "catalogued": _catalogued_text(view, candidate),
        "decay": candidate.decay.text() if candidate.decay is not None else "-",
        "neighbour": neighbour_text(view, candidate),
        "links": links_out(candidate.ra, candidate.dec),
    }


def _in_mxt(value: bool | None) -> str:
    if value is None:
        return "no circle"
    return "yes" if value else "no"


def _caption(candidate: CandidateView) -> str:
    decay = candidate.decay
    fit = f"decay {decay.text()}" if decay else "decay not determined by the detections"
    colour = f"B-R = {candidate.b_minus_r:.2f}" if candidate.b_minus_r is not None else "no colour"
    return f"{fit}; {colour}; redshift hint {candidate.redshift_hint or '-'}"


#: The history's row of the next version (its page is linked before it exists: said so).
NEXT_VERSION_NOTE = (
    "not made when this page was drawn: its page will be at this address if a newer version is made and "
    "its extras are stored (a version superseded before they were drawn has none)"
)


def _history(view: BurstView) -> list[VersionEntry]:
    """Every version, newest first: the next one (linked where its page will be), this one, the earlier."""
    context = view.context
    entries = {entry.version: entry for entry in context.history if entry.version != context.version}
    entries[context.version] = VersionEntry(context.version, iso_utc(context.created, digits=0), "current")
    if context.next_page:
        entries[context.version + 1] = VersionEntry(
            context.version + 1, note=NEXT_VERSION_NOTE, page=context.next_page
        )
    return [entries[version] for version in sorted(entries, reverse=True)]


def _data_uri(image: bytes, kind: str = "image/png") -> str:
    return f"data:{kind};base64," + base64.b64encode(image).decode("ascii")
