"""One build of a burst version, in memory: from inputs already read to the products' bytes.

``vtac make-qpo-vt`` reads files, builds, writes files; the service reads its store, builds, uploads; its
extras worker rebuilds a version the same way. They differ only in how they read and where the bytes go.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from vtac.adapters.products import qcandi_vt_fits, qpo_vt_fits
from vtac.adapters.providers import RemoteSettings
from vtac.adapters.summary import QpoVtSummary, TimeOrigin, build_summary, circle_label
from vtac.adapters.trigger import TriggerTime, choose_trigger_time
from vtac.app.catalogs import CatalogSource, ask_catalogs
from vtac.core.coverage import circle_off_field
from vtac.core.pipeline import build_qpo_vt, first_stack_start
from vtac.core.records import CatalogAnswer, MxtPosition, QpoVtResult, VTObservation
from vtac.core.science_settings import ScienceConfig
from vtac.errors import InputError
from vtac.provenance import CodeVersion

log = logging.getLogger(__name__)

FITS_MEDIA_TYPE = "application/fits"
JSON_MEDIA_TYPE = "application/json"


@dataclass(frozen=True)
class VersionInputs:
    """What one version is built from, already read and chosen."""

    burst_id: str
    #: The burst's source lists, merged.
    observation: VTObservation
    #: The X-ray circle chosen (``vtac.core.positions.choose_position``); None: the whole VT field.
    xray: MxtPosition | None = None
    #: T0 chosen (:func:`usable_trigger_time`); None: unknown, the decay fit assumes one.
    trigger: TriggerTime | None = None
    #: What the service fetched ahead of the VT data, by catalogue, for the summary.
    prefetch: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        """Nothing to build without a detection: refused before any catalogue is asked."""
        observation = self.observation
        if len(observation.detections) == 0:
            raise InputError(
                f"no usable source row ({observation.n_rejected} rejected as non-physical or non-finite)",
                file=", ".join(observation.origins) or None,
            )


@dataclass(frozen=True)
class ProductFile:
    """One file of a version, as stored or uploaded."""

    acronym: str
    filename: str
    content: bytes
    media_type: str


@dataclass(frozen=True)
class Version:
    """A built version: the result (for the extras), the summary, and the files QPO_VT, QCANDI_VT and the
    JSON summary (``QPO_VT_SUMMARY``), in that order."""

    result: QpoVtResult
    summary: QpoVtSummary
    files: tuple[ProductFile, ...]


def build_version(
    inputs: VersionInputs,
    catalogs: list[CatalogAnswer],
    science: ScienceConfig,
    *,
    code: CodeVersion,
    now: datetime | None = None,
) -> Version:
    """Rank the burst's sources and make the products' bytes; ``code`` says which code made them."""
    trigger = inputs.trigger
    observation = replace(inputs.observation, trigger_time=None if trigger is None else trigger.time)
    detections = observation.detections
    off_field = xray_off_field(detections["RA"], detections["DEC"], inputs.xray)
    if off_field is not None:
        log.warning("%s", off_field, extra={"burst_id": inputs.burst_id})
    result = build_qpo_vt(observation, inputs.xray, catalogs, science, burst_id=inputs.burst_id)
    summary = build_summary(
        result,
        code=code,
        prefetch=None if inputs.prefetch is None else dict(inputs.prefetch),
        time_origin=TimeOrigin.of(trigger, science.first_sequence_delay_s),
        xray_off_field=off_field,
    )
    moment = now or datetime.now(UTC)
    t0 = None if trigger is None else trigger.time.isoformat(timespec="milliseconds")
    stem = f"QPO_VT_{inputs.burst_id}"
    files = (
        ProductFile(
            "QPO_VT",
            f"{stem}.fits",
            qpo_vt_fits(result, code=code, now=moment, trigger_time=t0),
            FITS_MEDIA_TYPE,
        ),
        ProductFile(
            "QCANDI_VT",
            f"QCANDI_VT_{inputs.burst_id}.fits",
            qcandi_vt_fits(result, code=code, now=moment, trigger_time=t0),
            FITS_MEDIA_TYPE,
        ),
        ProductFile("QPO_VT_SUMMARY", f"{stem}.json", summary.json_bytes(), JSON_MEDIA_TYPE),
    )
    log.info("QPO_VT built (%d candidates)", len(result.candidates), extra={"burst_id": inputs.burst_id})
    return Version(result, summary, files)


@dataclass(frozen=True)
class VersionBuilder:
    """Ask the configured catalogues for a version's field and build it: the one piece the command line, the
    service and the extras worker (it is pickled there) call."""

    catalogs: tuple[CatalogSource, ...]
    remote: RemoteSettings
    science: ScienceConfig
    code: CodeVersion

    def build(self, inputs: VersionInputs) -> Version:
        """The version of ``inputs``, with the catalogues' answers for its field."""
        answers = ask_catalogs(list(self.catalogs), inputs.observation, self.remote)
        return build_version(inputs, answers, self.science, code=self.code)


def usable_trigger_time(
    candidates: Iterable[TriggerTime | None],
    observation: VTObservation,
    *,
    refuse_late: bool,
    operator: TriggerTime | None = None,
) -> TriggerTime | None:
    """T0 from the first source, best first, that gives one: the ``candidates`` (notices, QPO_MXT), then the
    source lists' TT_ECL, then the ``operator``'s (``--t0``).

    A T0 after the start of the first VT stack is refused (``refuse_late``: the one-off, where the operator
    can fix it) or that source skipped (the service, where one wrong notice must not block the burst).
    """
    lists = None if observation.trigger_time is None else TriggerTime("TT_ECL", observation.trigger_time)
    first = first_stack_start(observation)
    usable = []
    for candidate in (*candidates, lists, operator):
        if candidate is not None and first is not None and candidate.time > first:
            message = (
                f"trigger time T0 = {candidate.time.isoformat()} ({candidate.source}) is after the start of "
                f"the first VT stack ({first.isoformat()}): T0 must precede the observations"
            )
            if refuse_late:
                raise InputError(message)
            log.warning("%s; that T0 is not used", message)
            continue
        usable.append(candidate)
    return choose_trigger_time(usable)


def xray_off_field(ra: Any, dec: Any, xray: MxtPosition | None) -> str | None:
    """A warning when the X-ray circle does not reach the VT field (wrong burst or position): then no
    source can be a candidate, and "0 candidates" must not read as "nothing there".
    """
    off = None if xray is None else circle_off_field(ra, dec, xray.ra, xray.dec, xray.r90_arcsec / 3600.0)
    if off is None or xray is None:
        return None
    distance, radius = off
    return (
        f"the {circle_label(xray.instrument)} circle (r90 {xray.r90_arcsec:.0f}\") is {distance * 60:.1f}' "
        f"from the VT field centre, outside the field (radius {radius * 60:.1f}'): VT did not observe it; "
        "wrong burst or position?"
    )
