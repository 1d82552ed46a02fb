"""The one-off job: read the inputs, run the science core, write the products.

Shared by the ``vtac make-qpo-vt`` command and, later, the message-driven service.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vtac import __version__
from vtac.adapters.mxt import qpo_mxt_trigger_time, read_qpo_mxt
from vtac.adapters.products import write_qcandi_vt, write_qpo_vt
from vtac.adapters.providers import RemoteSettings, is_remote, query_catalogs, resolve_provider
from vtac.adapters.srclist import read_srclists
from vtac.adapters.summary import TimeOrigin, circle_label, write_summary
from vtac.adapters.trigger import TriggerTime, choose_trigger_time, naive_utc
from vtac.core.config import ScienceConfig
from vtac.core.constants import COVERAGE_RADIUS_ARCSEC
from vtac.core.coverage import Cone, circle_off_field
from vtac.core.crossmatch import field_of
from vtac.core.model import (
    CATALOG_NAMES,
    CatalogAnswer,
    CatalogStatus,
    MxtPosition,
    QpoVtResult,
    VTObservation,
)
from vtac.core.naming import checked_burst_id
from vtac.core.pipeline import build_qpo_vt, first_stack_start
from vtac.core.positions import choose_position
from vtac.errors import ConfigurationError, InputError

if TYPE_CHECKING:
    from vtac.adapters.extras import ExtrasContext, ExtrasFiles

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CatalogSource:
    """A ``--catalog NAME=SOURCE`` request."""

    name: str
    source: str

    @classmethod
    def parse(cls, text: str) -> CatalogSource:
        """``NAME=SOURCE`` with NAME one of the known catalogues."""
        name, sep, source = text.partition("=")
        name = name.strip().upper()
        if not sep or not source:
            raise ConfigurationError(f"--catalog {text!r}: expected NAME=SOURCE, e.g. SDSS12=sdss.fits")
        if name not in CATALOG_NAMES:
            raise ConfigurationError(
                f"--catalog {text!r}: unknown catalogue {name}; known: {', '.join(CATALOG_NAMES)}"
            )
        return cls(name, source)


@dataclass(frozen=True)
class QpoVtRequest:
    """Inputs of one QPO_VT creation."""

    srclists: list[Path]
    catalogs: list[CatalogSource]
    out_dir: Path
    mxt_file: Path | None = None
    mxt_position: MxtPosition | None = None
    burst_id: str | None = None
    #: Remote catalogue services (URLs, timeouts, overall deadline, cache); None: from the environment.
    remote: RemoteSettings | None = None
    #: The operator's trigger time T0 (UTC, ``--t0``): used when no input gives one (see ``trigger_times``).
    trigger_time: datetime | None = None
    #: T0 as the position notices (then a QPO_MXT) gave it, best first; before the lists' TT_ECL and --t0.
    trigger_times: tuple[TriggerTime, ...] = ()
    #: A T0 after the first VT stack: refused (InputError) when True; else that source is skipped, logged.
    refuse_late_trigger_time: bool = True
    #: Error circles from GCN notices, oldest first, after the MXT one: :func:`choose_position` picks.
    positions: tuple[MxtPosition, ...] = ()
    #: What the service fetched ahead of the VT data, by catalogue, for the JSON summary.
    prefetch: dict[str, str] | None = None


@dataclass(frozen=True)
class QpoVtOutcome:
    """What was computed and where the products are."""

    result: QpoVtResult
    qpo_vt: Path
    qcandi_vt: Path
    summary: Path


def make_qpo_vt(request: QpoVtRequest, science: ScienceConfig) -> QpoVtOutcome:
    """Read, compute and write QPO_VT, QCANDI_VT and the JSON summary of one burst."""
    observation = read_srclists(request.srclists)
    trigger = trigger_time_of(request, observation)
    observation.trigger_time = None if trigger is None else trigger.time
    burst_id = request.burst_id or observation.burst_id
    if not burst_id:
        raise InputError("no BURST_ID in the source lists: pass --burst-id", file=str(request.srclists[0]))
    # The id names the product files: a path separator or '..' must not write outside the output directory.
    checked_burst_id(
        burst_id,
        origin="--burst-id" if request.burst_id else "BURST_ID header",
        file=None if request.burst_id else str(request.srclists[0]),
    )
    if len(observation.detections) == 0:
        files = ", ".join(observation.origins) or str(request.srclists[0])
        raise InputError(
            f"no usable source row ({observation.n_rejected} rejected as non-physical or non-finite)",
            file=files,
        )
    mxt = request.mxt_position
    if request.mxt_file is not None:
        mxt = read_qpo_mxt(request.mxt_file)
    circles = ([mxt] if mxt else []) + list(request.positions)
    mxt = choose_position((circle, order) for order, circle in enumerate(circles))
    detections = observation.detections
    if (off_field := mxt_off_field(detections["RA"], detections["DEC"], mxt)) is not None:
        log.warning("%s", off_field)
    catalogs = ask_catalogs(request.catalogs, observation, request.remote or _configured_remote())
    result = build_qpo_vt(observation, mxt, catalogs, science, burst_id=burst_id)
    out = request.out_dir
    out.mkdir(parents=True, exist_ok=True)
    t0 = trigger.time.isoformat(timespec="milliseconds") if trigger is not None else None
    outcome = QpoVtOutcome(
        result=result,
        qpo_vt=write_qpo_vt(
            result, out / f"QPO_VT_{burst_id}.fits", creator_version=__version__, trigger_time=t0
        ),
        qcandi_vt=write_qcandi_vt(
            result, out / f"QCANDI_VT_{burst_id}.fits", creator_version=__version__, trigger_time=t0
        ),
        summary=write_summary(
            result,
            out / f"QPO_VT_{burst_id}.json",
            version=__version__,
            prefetch=request.prefetch,
            time_origin=TimeOrigin.of(trigger, science.first_sequence_delay_s),
            xray_off_field=off_field,
        ),
    )
    log.info("QPO_VT written: %s (%d candidates)", outcome.qpo_vt, len(result.candidates))
    return outcome


def trigger_time_of(request: QpoVtRequest, observation: VTObservation) -> TriggerTime | None:
    """T0 from the best source that gives one: notices, QPO_MXT, the lists' TT_ECL, then ``--t0``.

    A T0 after the start of the first VT stack is refused (one-off) or that source skipped (service, where
    one wrong notice must not block the burst).
    """
    from_file = qpo_mxt_trigger_time(request.mxt_file) if request.mxt_file is not None else None
    candidates = [
        *request.trigger_times,
        None if from_file is None else TriggerTime("QPO_MXT", from_file),
        None if observation.trigger_time is None else TriggerTime("TT_ECL", observation.trigger_time),
        None if request.trigger_time is None else TriggerTime("--t0", naive_utc(request.trigger_time)),
    ]
    first = first_stack_start(observation)
    usable = []
    for candidate in candidates:
        if candidate is not None and first is not None and candidate.time > first:
            message = (
                f"trigger time T0 = {candidate.time.isoformat()} ({candidate.source}) is after the start of "
                f"the first VT stack ({first.isoformat()}): T0 must precede the observations"
            )
            if request.refuse_late_trigger_time:
                raise InputError(message)
            log.warning("%s; that T0 is not used", message)
            continue
        usable.append(candidate)
    return choose_trigger_time(usable)


def make_extras(outcome: QpoVtOutcome, context: ExtrasContext) -> ExtrasFiles:
    """The chart, light curves, page, VOEvent, notice and circular draft, beside the products.

    Separate from :func:`make_qpo_vt` so that the service can announce the products first.
    """
    from vtac.adapters.extras import write_extras  # pylint: disable=import-outside-toplevel

    summary = json.loads(outcome.summary.read_text(encoding="utf-8"))
    links = {
        "QPO_VT": outcome.qpo_vt.name,
        "QCANDI_VT": outcome.qcandi_vt.name,
        "JSON summary": outcome.summary.name,
        **context.links,
    }
    return write_extras(outcome.result, summary, replace(context, links=links), outcome.summary.parent)


def mxt_off_field(ra: Any, dec: Any, mxt: MxtPosition | None) -> str | None:
    """A warning when the X-ray circle does not reach the VT field (wrong burst or position): then no
    source can be a candidate, and "0 candidates" must not read as "nothing there".
    """
    off = None if mxt is None else circle_off_field(ra, dec, mxt.ra, mxt.dec, mxt.r90_arcsec / 3600.0)
    if off is None or mxt is None:
        return None
    distance, radius = off
    label = circle_label(mxt.instrument)
    return (
        f"the {label} circle (r90 {mxt.r90_arcsec:.0f}\") is {distance * 60:.1f}' from "
        f"the VT field centre, outside the field (radius {radius * 60:.1f}'): VT did not observe it; wrong "
        "burst or position?"
    )


def field_cone(observation: VTObservation) -> Cone | None:
    """The cone to ask the catalogues: all detections, plus the margin where the core looks for neighbours."""
    detections = observation.detections
    if len(detections) == 0:
        return None
    field = field_of(detections["RA"], detections["DEC"], 0.0)
    return Cone(field.ra, field.dec, (field.radius_arcsec + COVERAGE_RADIUS_ARCSEC) / 3600.0)


def ask_catalogs(
    sources: list[CatalogSource], observation: VTObservation, remote: RemoteSettings
) -> list[CatalogAnswer]:
    """Every catalogue's answer, in the order asked: files read here, services asked concurrently."""
    providers = [(item.name, resolve_provider(item.name, item.source, remote)) for item in sources]
    cone = field_cone(observation)
    remote_indices = [index for index, item in enumerate(sources) if is_remote(item.source)]
    answers: dict[int, CatalogAnswer] = {}
    if cone is None:
        nothing = "no VT detection: nothing to look for"
        answers = {
            i: CatalogAnswer(sources[i].name, CatalogStatus.NOT_COVERED, None, nothing)
            for i in remote_indices
        }
    else:
        asked = query_catalogs([providers[i] for i in remote_indices], cone, remote.deadline_s)
        answers = dict(zip(remote_indices, asked, strict=True))
    for index, (name, provider) in enumerate(providers):
        if index not in answers:
            answers[index] = provider.query(name, cone or Cone(0.0, 0.0, 0.0), deadline=0.0)
    for answer in answers.values():
        if answer.status is not CatalogStatus.OK or answer.truncated:
            log.warning("catalogue %s %s: %s", answer.name, answer.status.value, answer.message)
    return [answers[index] for index in range(len(sources))]


def _configured_remote() -> RemoteSettings:
    """The catalogue services of the settings tree (environment, TOML file)."""
    from vtac.settings import load_settings  # pylint: disable=import-outside-toplevel  # only when needed

    return load_settings().remote
