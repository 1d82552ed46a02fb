"""X-ray and gamma-ray error circles from GCN notices: VOEvent 2.0 packets and GCN Kafka JSON notices.

The first position of a burst reaches the ground minutes before the VT lists: ECLAIRs then MXT for SVOM's own
bursts, an Einstein Probe WXT/FXT or Swift BAT/XRT circle for follow-ups. Any of them becomes the
:class:`~vtac.core.records.MxtPosition` the core filters with, its mission and instrument recorded.

The burst's trigger time T0 is kept too (VOEvent ``WhereWhen`` ISOTime, JSON ``trigger_time``): the light
curves count from it.

* VOEvent 2.0 (``http://www.ivoa.net/xml/VOEvent/v2.0``, the SVOM FSC's and GCN Classic's packets):
  ``WhereWhen//Position2D`` (``unit="deg"``, ``C1``/``C2``, ``Error2Radius``) in an ICRS or FK5 system;
  mission and instrument from the SVOM ``Instrument`` parameter or the GCN IVORN
  (``ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_...``); SVOM's ``Burst_Id``; the issue time ``Who/Date``.
* GCN Kafka JSON (``nasa-gcn/gcn-schema`` core ``Localization``): ``ra``, ``dec``, ``ra_dec_error`` (deg;
  an ellipse's semi-major axis), ``containment_probability`` (default 0.9; another is scaled to 90 % as a
  circular Gaussian would be); mission from ``mission`` or the ``$schema`` path; ``alert_datetime``.

Refused, each with a one-line reason naming the field: no position; an unknown error (SVOM GRM's
``Error2Radius = -1``, Fermi's alert packet at 0,0 with 0); a circle above ``max_radius_deg`` (Fermi GBM's
several degrees: VT's 26' field cannot be filtered by it); a retraction; a catalogued known source
(ECLAIRs' ``Source_Name``); a test notice unless tests are accepted (rehearsals); VOEvent 1.1 or a packet
without namespace. XML with a DOCTYPE is refused before parsing (no VOEvent has one; no entity expansion).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vtac.adapters.tables import existing_file
from vtac.adapters.trigger import TriggerTime, naive_utc
from vtac.core.records import MxtPosition
from vtac.errors import InputError

if TYPE_CHECKING:  # the XML parser is imported by the first VOEvent: the settings import this module
    from xml.etree import ElementTree

VOEVENT_NS = "http://www.ivoa.net/xml/VOEvent/v2.0"
MAX_ALERT_BYTES = 1024 * 1024
#: Default largest circle accepted (deg, 90 %): ECLAIRs' reach 10-13' (0.16-0.22 deg), Swift BAT's 1-4';
#: Fermi GBM's (degrees) and LAT's (0.5 deg) circles would hold the whole VT field and more.
DEFAULT_MAX_RADIUS_DEG = 0.25
DEFAULT_CONTAINMENT = 0.9
_SVOM_BURST_ID = re.compile(r"^sb\d{8}$")
_MISSIONS = {"swift": "Swift", "fermi": "Fermi", "svom": "SVOM", "einstein_probe": "EP", "ep": "EP"}


@dataclass(frozen=True)
class Alert:
    """One notice's error circle, with what the service needs to file and order it."""

    position: MxtPosition
    issued: datetime | None
    burst_id: str | None = None
    test: bool = False
    kind: str = "VOEvent"
    #: The trigger time T0 (UTC) the notice gives: VOEvent ``WhereWhen`` ISOTime, JSON ``trigger_time``.
    trigger_time: datetime | None = None


def read_alert_file(path: str | Path, *, max_radius_deg: float, accept_tests: bool = False) -> Alert:
    """The circle of a VOEvent or GCN JSON file (bounded read: a notice is a few kB)."""
    path = existing_file(path)
    if path.stat().st_size > MAX_ALERT_BYTES:
        raise InputError(f"larger than {MAX_ALERT_BYTES} bytes: not a GCN notice", file=path.name)
    return read_alert(path.read_bytes(), path.name, max_radius_deg=max_radius_deg, accept_tests=accept_tests)


def read_alert(content: bytes, name: str, *, max_radius_deg: float, accept_tests: bool = False) -> Alert:
    """The circle of a notice, VOEvent or JSON by its first character; InputError saying why if refused."""
    text = content.decode("utf-8-sig", errors="replace").lstrip()
    if text.startswith("<"):
        alert = _voevent(text, name)
    elif text.startswith("{"):
        alert = _gcn_json(text, name)
    else:
        raise InputError("neither a VOEvent (XML) nor a GCN JSON notice", file=name)
    if alert.test and not accept_tests:
        raise InputError(
            f"test notice ({alert.kind}, {alert.position.origin}): not a real position "
            "(accepted only with --simulated / VTAC_SIMULATED)",
            file=name,
        )
    return _bounded(alert, name, max_radius_deg)


def _bounded(alert: Alert, name: str, max_radius_deg: float) -> Alert:
    position = alert.position
    radius_deg = position.r90_arcsec / 3600.0
    if radius_deg > max_radius_deg:
        raise InputError(
            f"{position.source} error radius {radius_deg:.3g} deg exceeds max_position_radius_deg="
            f"{max_radius_deg:g}: too large to filter VT's 26' field",
            file=name,
        )
    return alert


def _checked_position(
    ra: Any, dec: Any, radius_deg: Any, where: tuple[str, str, str], name: str
) -> tuple[float, float, float]:
    """Numbers in range; the error radius positive (-1 or 0 mean unknown)."""
    ra_deg, dec_deg = _number(ra, where[0], name), _number(dec, where[1], name)
    error = _number(radius_deg, where[2], name)
    if not 0.0 <= ra_deg < 360.0 or not -90.0 <= dec_deg <= 90.0:
        raise InputError(f"position ({ra_deg}, {dec_deg}) outside the sky", file=name, column=where[0])
    if error <= 0.0:
        raise InputError(f"error radius {error:g}: unknown, no usable circle", file=name, column=where[2])
    return ra_deg, dec_deg, error


def _number(value: Any, field: str, name: str) -> float:
    """A finite number from JSON or XML text (a JSON bool or null is not one)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InputError("missing or not a number", file=name, column=field)
    try:
        number = float(value)
    except ValueError:
        raise InputError(f"{value!r} is not a number", file=name, column=field) from None
    if not math.isfinite(number):
        raise InputError(f"{value!r} is not finite", file=name, column=field)
    return number


def _utc(text: str | None) -> datetime | None:
    """An ISO time; naive ones (SVOM's ISOTime) are UTC; an unreadable one is no time (ordering only)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def text_or_none(value: Any) -> str | None:
    """A JSON string field, None when absent or of another type."""
    return value if isinstance(value, str) else None


# ---- VOEvent 2.0


def _voevent(text: str, name: str) -> Alert:
    if "<!DOCTYPE" in text[:4096].upper():
        raise InputError("XML with a DOCTYPE: not a VOEvent packet", file=name)
    from xml.etree import ElementTree  # pylint: disable=import-outside-toplevel  # see TYPE_CHECKING above

    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise InputError(f"not well-formed XML ({exc})", file=name) from None
    if root.tag != f"{{{VOEVENT_NS}}}VOEvent":
        found = root.tag.partition("}")[0].lstrip("{") if root.tag.startswith("{") else "no namespace"
        raise InputError(f"not a VOEvent 2.0 packet (root {root.tag.rpartition('}')[2]}, {found})", file=name)
    ivorn = root.get("ivorn", "")
    role = root.get("role", "")
    if role not in ("observation", "test"):
        raise InputError(f"role={role!r}: carries no observation", file=name)
    params = {param.get("name", ""): param.get("value", "") for param in root.iter("Param")}
    if any(cite.get("cite") == "retraction" for cite in root.iter("EventIVORN")):
        raise InputError(f"retraction notice ({ivorn}): no position to use", file=name)
    if params.get("Source_Name"):
        raise InputError(f"catalogued X-ray source {params['Source_Name']!r}, not a burst", file=name)
    ra, dec, radius = _position2d(root, name)
    mission, instrument = _voevent_source(ivorn, params)
    return Alert(
        MxtPosition(ra, dec, radius * 3600.0, mission=mission, instrument=instrument, origin=ivorn),
        issued=_utc(root.findtext("Who/Date")) or _utc(root.findtext(".//ISOTime")),
        burst_id=params.get("Burst_Id") or None,
        test=role == "test",
        trigger_time=_utc(
            root.findtext("WhereWhen/ObsDataLocation/ObservationLocation/AstroCoords/Time//ISOTime")
        ),
    )


def _position2d(root: ElementTree.Element, name: str) -> tuple[float, float, float]:
    location = root.find("WhereWhen/ObsDataLocation/ObservationLocation")
    position = None if location is None else location.find("AstroCoords/Position2D")
    if location is None or position is None:
        raise InputError("no position", file=name, column="WhereWhen/.../Position2D")
    system = location.find("AstroCoordSystem")
    system_id = "" if system is None else system.get("id", "")
    if "ICRS" not in system_id and "FK5" not in system_id:
        raise InputError(
            f"coordinate system {system_id!r} is not ICRS or FK5", file=name, column="AstroCoordSystem"
        )
    if position.get("unit") != "deg":
        raise InputError(f"unit {position.get('unit')!r}, expected 'deg'", file=name, column="Position2D")
    return _checked_position(
        position.findtext("Value2/C1"),
        position.findtext("Value2/C2"),
        position.findtext("Error2Radius"),
        ("Position2D/Value2/C1", "Position2D/Value2/C2", "Position2D/Error2Radius"),
        name,
    )


def _voevent_source(ivorn: str, params: dict[str, str]) -> tuple[str, str]:
    """(mission, instrument): SVOM's ``Instrument`` parameter, else GCN's ``<MISSION>#<INSTRUMENT>_...``."""
    authority, _, fragment = ivorn.partition("#")
    if authority.startswith("ivo://org.svom"):
        return "SVOM", params.get("Instrument") or "unknown"
    mission = authority.rstrip("/").rpartition("/")[2]
    instrument = params.get("Instrument") or fragment.partition("_")[0]
    return _MISSIONS.get(mission.lower(), mission or "unknown"), instrument or "unknown"


# ---- GCN Kafka JSON


def _gcn_json(text: str, name: str) -> Alert:
    try:
        notice = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc})", file=name) from None
    if not isinstance(notice, dict):
        raise InputError("not a JSON object", file=name)
    mission, instrument = _json_source(notice)
    ids = [str(item) for item in notice.get("id", []) if isinstance(item, str | int)]
    origin = f"{mission} {instrument} notice {ids[0] if ids else '(no id)'}"
    if notice.get("alert_type") == "retraction":
        raise InputError(f"retraction notice ({origin}): no position to use", file=name)
    if "ra" not in notice:
        raise InputError("no position", file=name, column="ra")
    ra, dec, radius = _checked_position(
        notice.get("ra"), notice.get("dec"), _json_radius(notice), ("ra", "dec", "ra_dec_error"), name
    )
    radius *= _to_90_percent(notice.get("containment_probability", DEFAULT_CONTAINMENT), name)
    return Alert(
        MxtPosition(ra, dec, radius * 3600.0, mission=mission, instrument=instrument, origin=origin),
        issued=_utc(text_or_none(notice.get("alert_datetime")) or text_or_none(notice.get("trigger_time"))),
        burst_id=next((item for item in ids if _SVOM_BURST_ID.match(item)), None),
        test=notice.get("alert_tense") == "test",
        kind="GCN JSON",
        trigger_time=_utc(text_or_none(notice.get("trigger_time"))),
    )


def _json_source(notice: dict[str, Any]) -> tuple[str, str]:
    """(mission, instrument): the fields if given, else the ``$schema`` path ``.../notices/<m>/<i>/...``."""
    parts = str(notice.get("$schema", "")).split("/notices/", 1)[-1].split("/")
    mission = str(notice.get("mission") or (parts[0] if len(parts) > 1 else "unknown"))
    instrument = str(notice.get("instrument") or (parts[1] if len(parts) > 2 else "unknown"))
    return _MISSIONS.get(mission.lower(), mission), instrument


def _json_radius(notice: dict[str, Any]) -> Any:
    """A circle's radius, or an ellipse's semi-major axis (the circle that holds it)."""
    error = notice.get("ra_dec_error")
    if isinstance(error, list):
        return error[0] if error else None
    return error


def _to_90_percent(probability: Any, name: str) -> float:
    """Factor from a radius of containment ``probability`` to the 90 % one (circular Gaussian)."""
    if isinstance(probability, bool) or not isinstance(probability, int | float):
        raise InputError("not a number", file=name, column="containment_probability")
    if not 0.0 < probability < 1.0:
        raise InputError(f"{probability} outside (0, 1)", file=name, column="containment_probability")
    return math.sqrt(math.log(1.0 - DEFAULT_CONTAINMENT) / math.log(1.0 - probability))


def alert_trigger_time(alert: Alert) -> TriggerTime | None:
    """The notice's T0 as a trigger-time source named after it (``SVOM ECLAIRs notice``), None without."""
    if alert.trigger_time is None:
        return None
    source = f"{alert.position.mission} {alert.position.instrument} notice"
    return TriggerTime(source, naive_utc(alert.trigger_time))
