"""VOEvent 2.0 packet of the best candidate: SVOM's N2v "VT best candidate" notice (Packet_Type 211).

Laid out like the FSC's real MXT notices (N2m, Packet_Type 209/210): ``Svom_Identifiers`` group, WhereWhen
with a Position2D and ``Error2Radius`` in degrees, ISOTime without a zone suffix. What carries the
candidate (rank, probability, VT_R/VT_B magnitudes per sequence, colour, redshift hint); Why the
probability; Citations supersede the earlier versions' VOEvents that were issued. Built with lxml directly.
"""

from __future__ import annotations

from lxml import etree

from vtac.adapters.extras.context import (
    POSITION_ERROR_ARCSEC,
    BurstView,
    CandidateView,
    Measurement,
    iso_utc,
)

VOEVENT_NS = "http://www.ivoa.net/xml/VOEvent/v2.0"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{VOEVENT_NS} http://www.ivoa.net/xml/VOEvent/VOEvent-v2.0.xsd"
AUTHOR_IVORN = "ivo://org.svom/fsc"
PACKET_TYPE = 211
NOTICE_LEVEL = "N2v"
NOTICE_KIND = "vt-best-candidate"


def ivorn(burst_id: str, version: int) -> str:
    """``ivo://org.svom/fsc#<burst>_vt-best-candidate-v<N>``: the FSC's IVORN scheme, one per version."""
    return f"{AUTHOR_IVORN}#{burst_id}_{NOTICE_KIND}-v{version}"


def build_voevent(view: BurstView) -> bytes | None:
    """The packet as UTF-8 XML bytes, or None when there is no best candidate to announce."""
    candidate = view.best
    if candidate is None:
        return None
    context = view.context
    root = etree.Element(
        f"{{{VOEVENT_NS}}}VOEvent",
        nsmap={"voe": VOEVENT_NS, "xsi": XSI_NS},
        attrib={
            f"{{{XSI_NS}}}schemaLocation": SCHEMA_LOCATION,
            "role": context.role,
            "version": "2.0",
            "ivorn": ivorn(view.burst_id, context.version),
        },
    )
    _who(root, view)
    _what(root, view, candidate)
    _where_when(root, view, candidate)
    _how(root)
    _why(root, candidate)
    _citations(root, view)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _who(root: etree._Element, view: BurstView) -> None:
    who = _sub(root, "Who")
    _sub(who, "AuthorIVORN", AUTHOR_IVORN)
    _sub(who, "Date", iso_utc(view.context.created, digits=0))
    author = _sub(who, "Author")
    _sub(author, "title", "SVOM French Science Center - VT afterglow candidates (VTAC)")
    _sub(author, "shortName", "FSC/VTAC")


def _what(root: etree._Element, view: BurstView, candidate: CandidateView) -> None:
    what = _sub(root, "What")
    _param(what, "Packet_Type", PACKET_TYPE, ucd="meta.id", data_type="int")
    _param(what, "Pkt_Ser_Num", view.context.version, ucd="meta.id", data_type="int")
    _param(what, "Instrument", "VT", ucd="instr")
    ids = _sub(what, "Group", name="Svom_Identifiers")
    _param(ids, "Notice_Level", NOTICE_LEVEL, ucd="meta.id")
    _param(ids, "Burst_Id", view.burst_id, ucd="meta.id")
    if view.t0 is not None:
        _param(ids, "Alert_Seq_T0", iso_utc(view.t0) + "Z", ucd="time.start")
        _param(ids, "T0_Source", view.t0_source or "unknown", ucd="meta.ref")
    _check_group(what, view)
    info = _sub(what, "Group", name="Candidate_Info")
    _param(info, "VT_ID", candidate.vt_id, ucd="meta.id", data_type="int")
    _param(info, "Rank", candidate.rank, ucd="meta.number", data_type="int")
    if candidate.probability is not None:
        _param(
            info, "Probability", round(candidate.probability, 4), ucd="stat.probability", data_type="float"
        )
    if candidate.b_minus_r is not None:
        _param(
            info,
            "VT_B_minus_VT_R",
            round(candidate.b_minus_r, 3),
            unit="mag",
            ucd="phot.color",
            data_type="float",
        )
    _param(info, "Redshift_Hint", candidate.redshift_hint or "undetermined", ucd="src.redshift")
    _param(info, "N_Candidates", len(view.candidates), ucd="meta.number", data_type="int")
    _param(
        info, "Verified", str(bool(candidate.data.get("verified", view.verified))).lower(), ucd="meta.code"
    )
    decay = candidate.decay
    if decay is not None:
        _param(info, "Decay_Index", round(decay.alpha, 3), ucd="src.var.index", data_type="float")
        if decay.alpha_err is not None:
            _param(info, "Decay_Index_Err", round(decay.alpha_err, 3), ucd="stat.error", data_type="float")
    for reason in candidate.reasons:
        _sub(info, "Description", reason)
    for measurement in candidate.measurements:
        _measurement_group(what, measurement, view.time_label)
    _sub(what, "Description", f"Magnitudes AB, not corrected for Galactic extinction; {view.times_since}.")


def _check_group(what: etree._Element, view: BurstView) -> None:
    """What VTAC could check, machine-readable: ``Verified`` (a catalogue answered), each catalogue's
    status, the X-ray circle searched and whether VT observed it."""
    group = _sub(what, "Group", name="VTAC_Checks")
    _param(group, "Verified", str(view.verified).lower(), ucd="meta.code")
    for catalog in view.summary.get("catalogs", []):
        _param(group, f"Catalog_{catalog['name']}", catalog["status"], ucd="meta.code.status")
    if view.summary.get("p_none") is not None:
        _param(
            group,
            "P_None",
            round(float(view.summary["p_none"]), 4),
            ucd="stat.probability",
            data_type="float",
        )
    mxt = view.summary.get("mxt")
    if mxt:
        _param(group, "Xray_Circle", view.xray_label, ucd="meta.id")
        _param(group, "Xray_Circle_In_VT_Field", str(not view.xray_off_field).lower(), ucd="meta.code")


def _measurement_group(what: etree._Element, measurement: Measurement, time_label: str) -> None:
    sequence = measurement.sequence
    group = _sub(what, "Group", name=f"{sequence.band_name}_{sequence.name}", type="Photometry")
    _param(group, "Filter", sequence.band_name, ucd="instr.filter")
    if sequence.start is not None:
        _param(group, "Date_Obs", iso_utc(sequence.start), ucd="time.start")
    if sequence.t_mid_s is not None:
        _param(group, "Mid_Time", round(sequence.t_mid_s, 1), unit="s", ucd="time.epoch", data_type="float")
    if sequence.exposure_s is not None:
        _param(group, "Exposure", sequence.exposure_s, unit="s", ucd="time.duration", data_type="float")
    if measurement.mag is not None:
        _param(group, "Mag", round(measurement.mag, 3), unit="mag", ucd="phot.mag", data_type="float")
        if measurement.err is not None:
            _param(
                group,
                "Mag_Err",
                round(measurement.err, 3),
                unit="mag",
                ucd="stat.error;phot.mag",
                data_type="float",
            )
    if sequence.maglim is not None:
        _param(
            group,
            "Limiting_Mag",
            round(sequence.maglim, 2),
            unit="mag",
            ucd="phot.mag;stat.max",
            data_type="float",
        )
    _sub(group, "Description", f"mid-time after {time_label}; AB magnitudes")


def _where_when(root: etree._Element, view: BurstView, candidate: CandidateView) -> None:
    where_when = _sub(root, "WhereWhen")
    data_location = _sub(where_when, "ObsDataLocation")
    _sub(data_location, "ObservatoryLocation", id="GEOLEO")
    location = _sub(data_location, "ObservationLocation")
    _sub(location, "AstroCoordSystem", id="UTC-ICRS-GEO")
    coords = _sub(location, "AstroCoords", coord_system_id="UTC-ICRS-GEO")
    instant = _sub(_sub(coords, "Time", unit="s"), "TimeInstant")
    _sub(instant, "ISOTime", iso_utc(_event_time(view, candidate), digits=6))
    position = _sub(coords, "Position2D", unit="deg")
    _sub(position, "Name1", "RA")
    _sub(position, "Name2", "Dec")
    value = _sub(position, "Value2")
    _sub(value, "C1", f"{candidate.ra:.6f}")
    _sub(value, "C2", f"{candidate.dec:.6f}")
    _sub(position, "Error2Radius", f"{POSITION_ERROR_ARCSEC / 3600.0:.6f}")


def _event_time(view: BurstView, candidate: CandidateView):
    """The trigger time when known (as every SVOM notice), else the start of the first detection."""
    if view.t0 is not None:
        return view.t0
    starts = [m.sequence.start for m in candidate.detections() if m.sequence.start is not None]
    return min(starts) if starts else view.context.created


def _how(root: etree._Element) -> None:
    how = _sub(root, "How")
    _sub(how, "Description", f"{NOTICE_LEVEL} notice, VT VHF source lists ranked by VTAC")
    _sub(how, "Reference", uri="https://www.svom.eu/en/the-vt-visible-telescope-en/")


def _why(root: etree._Element, candidate: CandidateView) -> None:
    why = _sub(root, "Why")
    attributes = {"relation": "associated"}
    if candidate.probability is not None:
        why.set("importance", f"{candidate.probability:.4f}")
        attributes["probability"] = f"{min(max(candidate.probability, 0.0), 1.0):.4f}"
    inference = _sub(why, "Inference", **attributes)
    _sub(inference, "Concept", "process.variation.burst;em.opt")
    _sub(inference, "Description", "optical afterglow candidate of the SVOM burst")


def _citations(root: etree._Element, view: BurstView) -> None:
    """Supersedes only the VOEvents that were issued (a version without a best candidate, or whose extras
    were superseded before they were drawn, issued none)."""
    issued = [
        entry.version
        for entry in view.context.history
        if entry.voevent and entry.version < view.context.version
    ]
    if not issued:
        return
    citations = _sub(root, "Citations")
    for version in sorted(issued):
        _sub(citations, "EventIVORN", ivorn(view.burst_id, version), cite="supersedes")
    listed = ", ".join(str(version) for version in sorted(issued))
    _sub(
        citations,
        "Description",
        f"version {view.context.version} supersedes the VOEvents of versions {listed}",
    )


def _param(
    parent: etree._Element,
    name: str,
    value: object,
    *,
    ucd: str,
    unit: str | None = None,
    data_type: str | None = None,
) -> None:
    attributes = {"name": name, "value": str(value), "ucd": ucd}
    if unit:
        attributes["unit"] = unit
    if data_type:
        attributes["dataType"] = data_type
    _sub(parent, "Param", **attributes)


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, tag, attrib=attributes)
    if text is not None:
        element.text = text
    return element
