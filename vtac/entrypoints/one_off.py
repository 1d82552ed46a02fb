"""The one-off job of ``vtac make-qpo-vt``: read the files the options name, build the version, write it.

Imported only when the command runs (``vtac --help`` stays fast). The build itself is the service's:
:func:`vtac.app.version.build_version`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from vtac.adapters.alerts import Alert, alert_trigger_time
from vtac.adapters.files import write_bytes_atomically
from vtac.adapters.mxt import read_qpo_mxt
from vtac.adapters.srclist import read_srclists
from vtac.adapters.trigger import TriggerTime, naive_utc
from vtac.app.version import Version, VersionBuilder, VersionInputs, usable_trigger_time
from vtac.core.naming import checked_burst_id
from vtac.core.positions import choose_position
from vtac.core.records import MxtPosition
from vtac.core.science_settings import ScienceConfig
from vtac.errors import InputError
from vtac.provenance import running_code

if TYPE_CHECKING:
    from vtac.adapters.extras import ExtrasContext, ExtrasFiles
    from vtac.settings import CatalogueSettings


@dataclass(frozen=True)
class OneOffFiles:
    """What the options name: the source lists, the X-ray position (a QPO_MXT file or given), the notices
    read, the burst id and the operator's T0 (``--t0``, used when no input gives one)."""

    srclists: Sequence[Path]
    mxt_file: Path | None = None
    mxt_position: MxtPosition | None = None
    alerts: Sequence[Alert] = field(default_factory=tuple)
    burst_id: str | None = None
    t0: datetime | None = None


def read_inputs(files: OneOffFiles) -> VersionInputs:
    """Read every file once and choose the X-ray circle and T0; a T0 after the first VT stack is refused."""
    observation = read_srclists(files.srclists)
    burst_id = files.burst_id or observation.burst_id
    if not burst_id:
        raise InputError("no BURST_ID in the source lists: pass --burst-id", file=str(files.srclists[0]))
    # The id names the product files: a path separator or '..' must not write outside the output directory.
    checked_burst_id(
        burst_id,
        origin="--burst-id" if files.burst_id else "BURST_ID header",
        file=None if files.burst_id else str(files.srclists[0]),
    )
    qpo_mxt = read_qpo_mxt(files.mxt_file) if files.mxt_file is not None else None
    given = qpo_mxt.position if qpo_mxt is not None else files.mxt_position
    circles = ([given] if given else []) + [alert.position for alert in files.alerts]
    from_file = None if qpo_mxt is None else qpo_mxt.trigger_time
    trigger = usable_trigger_time(
        [
            *(alert_trigger_time(alert) for alert in files.alerts),
            None if from_file is None else TriggerTime("QPO_MXT", from_file),
        ],
        observation,
        refuse_late=True,
        operator=None if files.t0 is None else TriggerTime("--t0", naive_utc(files.t0)),
    )
    return VersionInputs(
        burst_id,
        observation,
        xray=choose_position((circle, order) for order, circle in enumerate(circles)),
        trigger=trigger,
    )


def make_version(files: OneOffFiles, catalogues: CatalogueSettings, science: ScienceConfig) -> Version:
    """Read the files, ask the catalogues, build the version (nothing written yet)."""
    builder = VersionBuilder(
        tuple(catalogues.sources), catalogues.services.remote_settings(), science, running_code()
    )
    return builder.build(read_inputs(files))


def write_version(version: Version, out_dir: Path) -> list[Path]:
    """QPO_VT, QCANDI_VT and the JSON summary in ``out_dir``, each written atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return [write_bytes_atomically(out_dir / item.filename, item.content) for item in version.files]


def write_version_extras(version: Version, context: ExtrasContext, out_dir: Path) -> ExtrasFiles:
    """The chart, light curves, page, VOEvent, notice and circular draft beside the products, which the
    page links by name."""
    from vtac.adapters.extras import write_extras  # pylint: disable=import-outside-toplevel  # --no-extras

    labels = {"QPO_VT": "QPO_VT", "QCANDI_VT": "QCANDI_VT", "QPO_VT_SUMMARY": "JSON summary"}
    links = {labels[item.acronym]: item.filename for item in version.files} | dict(context.links)
    return write_extras(version.result, version.summary.document(), replace(context, links=links), out_dir)
