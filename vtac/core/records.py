"""Data model shared by the core, the adapters and the entry points.

Inside VTAC every list of sources is an astropy Table; these classes only carry the tables together with
what describes them (sequence metadata, catalogue status). Sequence names follow the FSC convention: band
initial + 0-based index (``R0`` … ``R3``, ``B0`` … ``B3``), always ordered R0..R3 then B0..B3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from astropy.table import Table

BANDS = ("R", "B")
BAND_NAMES = {"R": "VT_R", "B": "VT_B"}
N_SEQ_PER_BAND = 4
SEQUENCES = tuple(f"{band}{nth}" for band in BANDS for nth in range(N_SEQ_PER_BAND))
#: Consecutive pairs of one band between which variability is measured: (previous, next).
VARIATION_PAIRS = tuple(
    (f"{band}{nth - 1}", f"{band}{nth}") for band in BANDS for nth in range(1, N_SEQ_PER_BAND)
)
CATALOG_NAMES = ("GAIADR3", "PS1DR1", "SDSS12", "LSDR10", "USNOB1")
NULL_INT = -99999
ARCSEC = 1.0 / 3600.0

#: Columns of the detection table the readers produce (one row per detection of any sequence).
DETECTION_COLUMNS = ("SEQ", "OBJID", "X", "Y", "RA", "DEC", "MAGCAL", "MAGERR", "EFLAG", "ELLIPTY")


def sequence_band(seq: str) -> str:
    """``'R2'`` -> ``'R'``."""
    return seq[0]


def sequence_index(seq: str) -> int:
    """``'R2'`` -> ``2``."""
    return int(seq[1:])


@dataclass(frozen=True)
class SequenceInfo:
    """What the source list says of one sequence (one ``FINDCH_<seq>`` extension)."""

    name: str
    maglim: float = math.nan
    date_obs: str | None = None
    exposure_s: float | None = None

    @property
    def band(self) -> str:
        """'R' or 'B'."""
        return sequence_band(self.name)

    @property
    def nth(self) -> int:
        """0-based index of the sequence in its band."""
        return sequence_index(self.name)


@dataclass
class VTObservation:
    """Every VT detection of one burst, merged from one or several QSRCLIST_VT lists.

    ``detections`` has the columns of :data:`DETECTION_COLUMNS`; ``n_rejected`` counts the rows the readers
    dropped because a value was non-finite or non-physical (the product reports it).
    """

    detections: Table
    sequences: dict[str, SequenceInfo]
    burst_id: str | None = None
    n_rejected: int = 0
    origins: list[str] = field(default_factory=list)
    #: Burst trigger time T0 (naive UTC) when known; light curves count times from it.
    trigger_time: datetime | None = None

    @property
    def sequences_used(self) -> list[str]:
        """Sequences present, in FSC order."""
        return [seq for seq in SEQUENCES if seq in self.sequences]


@dataclass(frozen=True)
class MxtPosition:
    """The X-ray position used to filter VT sources: centre and 90 % error radius, and who measured it.

    Historically MXT's (QPO_MXT), but any mission's error circle fits (ECLAIRs, EP WXT/FXT, Swift BAT/XRT):
    ``mission``/``instrument`` say whose it is, ``origin`` which notice or file gave it (the products
    record all three, so a Burst Advocate knows which circle filtered the sources).
    """

    ra: float
    dec: float
    r90_arcsec: float
    mission: str = "SVOM"
    instrument: str = "MXT"
    origin: str = ""

    @property
    def source(self) -> str:
        """``'SVOM/MXT'``: the instrument whose successive positions update one another."""
        return f"{self.mission}/{self.instrument}"


class CatalogStatus(StrEnum):
    """Outcome of asking one reference catalogue: only ``OK`` is evidence either way."""

    OK = "ok"
    FAILED = "failed"
    NOT_COVERED = "not_covered"


@dataclass
class CatalogAnswer:
    """One reference catalogue's answer for the field, normalised by its provider.

    ``table`` (present when ``status`` is OK) has the columns ``ID``, ``RA``, ``DEC`` (deg, ICRS, at
    ``EPOCH``), optional ``PMRA`` (mas/yr, includes cos δ), ``PMDEC`` (mas/yr), ``EPOCH`` (Julian year),
    and the survey magnitudes ``MAG_<band>`` with errors ``ERR_<band>`` (AB where the survey is AB), the
    band names being those of :data:`vtac.core.photometry.CATALOG_BANDS`.
    """

    name: str
    status: CatalogStatus
    table: Table | None = None
    message: str = ""
    truncated: bool = False

    @property
    def n_sources(self) -> int:
        """Rows the catalogue returned."""
        return 0 if self.table is None else len(self.table)

    @property
    def usable(self) -> bool:
        """Whether the answer is evidence (status OK with a table)."""
        return self.status is CatalogStatus.OK and self.table is not None


@dataclass
class QpoVtResult:
    """Everything the QPO_VT, QCANDI_VT and JSON products are written from.

    Table conventions (plain columns, no masks): floats are NaN where there is no value, integers with a
    TNULL in :mod:`vtac.core.schema` hold :data:`NULL_INT`, strings are empty. ``combined`` has exactly the
    columns of ``COMBINED_COLUMNS``; ``catalog_tables[name]`` those of ``CATALOG_COLUMNS`` (one row per
    VT source, for every catalogue whose status is OK); ``candidates`` and ``best`` those of
    ``COMBINED_COLUMNS + CANDIDATE_EXTRA_COLUMNS``, sorted by RANK.
    """

    burst_id: str
    sequences: dict[str, SequenceInfo]
    mxt: MxtPosition | None
    combined: Table
    catalogs: list[CatalogAnswer]
    catalog_tables: dict[str, Table]
    candidates: Table
    best: Table
    n_rejected: int = 0
    association_radius_arcsec: float = 1.0
    #: Probability that the afterglow is none of the sources (the candidates' PROB and this sum to one).
    p_none: float = 1.0
    #: Depth (VT_R, VT_B) measured in the field for each usable catalogue.
    catalog_depths: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def sequences_used(self) -> list[str]:
        """Sequences present, in FSC order."""
        return [seq for seq in SEQUENCES if seq in self.sequences]

    @property
    def verified(self) -> bool:
        """False when no catalogue answered: then no source can be called new, candidates are unverified."""
        return any(answer.usable for answer in self.catalogs)
