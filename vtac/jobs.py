"""The one-off job: read the inputs, run the science core, write the products.

Shared by the ``vtac make-qpo-vt`` command and, later, the message-driven service.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from vtac import __version__
from vtac.adapters.catalog_file import read_catalog_file
from vtac.adapters.mxt import read_qpo_mxt
from vtac.adapters.products import write_qcandi_vt, write_qpo_vt
from vtac.adapters.srclist import read_srclists
from vtac.adapters.summary import write_summary
from vtac.core.config import ScienceConfig
from vtac.core.model import CATALOG_NAMES, MxtPosition, QpoVtResult
from vtac.core.pipeline import build_qpo_vt
from vtac.errors import ConfigurationError, InputError

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
    burst_id = request.burst_id or observation.burst_id
    if not burst_id:
        raise InputError("no BURST_ID in the source lists: pass --burst-id", file=str(request.srclists[0]))
    mxt = request.mxt_position
    if request.mxt_file is not None:
        mxt = read_qpo_mxt(request.mxt_file)
    catalogs = [read_catalog_file(item.name, item.source) for item in request.catalogs]
    result = build_qpo_vt(observation, mxt, catalogs, science, burst_id=burst_id)
    out = request.out_dir
    out.mkdir(parents=True, exist_ok=True)
    outcome = QpoVtOutcome(
        result=result,
        qpo_vt=write_qpo_vt(result, out / f"QPO_VT_{burst_id}.fits", creator_version=__version__),
        qcandi_vt=write_qcandi_vt(result, out / f"QCANDI_VT_{burst_id}.fits", creator_version=__version__),
        summary=write_summary(result, out / f"QPO_VT_{burst_id}.json", version=__version__),
    )
    log.info("QPO_VT written: %s (%d candidates)", outcome.qpo_vt, len(result.candidates))
    return outcome
