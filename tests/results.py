"""A small but complete QpoVtResult built by hand, as the core would hand it to the writers and the
summary, for the tests of every layer."""

from __future__ import annotations

import math

import numpy as np
from astropy.table import Table

from vtac.adapters.products import CANDIDATE_COLUMNS
from vtac.core.records import (
    NULL_INT,
    CatalogAnswer,
    CatalogStatus,
    MxtPosition,
    QpoVtResult,
    SequenceInfo,
)
from vtac.core.schema import CATALOG_COLUMNS, COMBINED_COLUMNS, ColumnSpec

START_TIMES = {0: "2025-02-05T03:10:00", 1: "2025-02-05T03:15:00", 2: "2025-02-05T04:40:00"}
DEFAULT_SEQUENCES = ("R0", "R1", "B0", "B1")
STATUSES = {"LSDR10": CatalogStatus.OK, "SDSS12": CatalogStatus.FAILED, "PS1DR1": CatalogStatus.NOT_COVERED}


def _null_of(spec: ColumnSpec):
    kind = spec.tform[-1]
    if kind == "A":
        return ""
    if kind == "K":
        return NULL_INT if spec.tnull is not None else 0
    return False if kind == "L" else math.nan


def _empty_table(specs, n_rows: int) -> Table:
    return Table(
        {
            spec.name: np.full(
                n_rows, _null_of(spec), dtype=f"U{spec.tform[:-1]}" if spec.tform[-1] == "A" else None
            )
            for spec in specs
        }
    )


def make_sequences(names=DEFAULT_SEQUENCES) -> dict[str, SequenceInfo]:
    """Sequence metadata as a reader gives it: start, 300 s exposure, a limiting magnitude."""
    return {
        name: SequenceInfo(
            name=name,
            maglim=23.0 + 0.1 * int(name[1]),
            date_obs=START_TIMES.get(int(name[1])),
            exposure_s=300.0,
        )
        for name in names
    }


def make_combined(n_rows: int, sequences, with_mxt: bool) -> Table:
    """COMBINED with every column filled: detections in the sequences present, nulls elsewhere."""
    table = _empty_table(COMBINED_COLUMNS, n_rows)
    ids = np.arange(1, n_rows + 1)
    table["VT_ID"] = ids
    table["RA"] = 212.64 + 1e-4 * ids
    table["DEC"] = 29.69 - 1e-4 * ids
    table["RADEC_OG"] = sequences[0]
    table["IN_MXT"] = np.where(ids % 2 == 1, 1, 0) if with_mxt else -1
    for seq in sequences:
        table[f"OBJID_{seq}"] = 100 + ids
        table[f"RA_{seq}"] = table["RA"]
        table[f"DEC_{seq}"] = table["DEC"]
        table[f"MAGCAL_{seq}"] = 18.0 + 0.5 * ids + 0.3 * int(seq[1])
        table[f"MAGERR_{seq}"] = 0.02 * ids
        table[f"EFLAG_{seq}"] = 0
        table[f"XFLAG_{seq}"] = 2
    table["SEQFLAG0"] = 12200
    table["NEW_SRC"][0] = "R0,B0,R1,B1"
    table["DMAG_CAT"][1] = "B0"
    table["MAG_VAR"][0] = "R0-R1,B0-B1"
    if "R1" in sequences:
        table["MAGVAR_R1"] = -0.3
        table["VFLAG_R1"] = 2
        # Source 2 is not detected in R1: its light curve must show the R1 limit.
        table["OBJID_R1"][1] = NULL_INT
        table["EFLAG_R1"][1] = NULL_INT
        for prefix in ("RA", "DEC", "MAGCAL", "MAGERR"):
            table[f"{prefix}_R1"][1] = np.nan
    return table


def make_candidates(combined: Table, rows, with_mxt: bool) -> Table:
    """CANDIDATES rows: the COMBINED rows plus ranking columns, best first."""
    table = combined[list(rows)]
    n_rows = len(table)
    extras = _empty_table(CANDIDATE_COLUMNS[len(COMBINED_COLUMNS) :], n_rows)
    for name in extras.colnames:
        table[name] = extras[name]
    table["RANK"] = np.arange(1, n_rows + 1)
    table["PROB"] = np.linspace(0.6, 0.1, n_rows) if n_rows else []
    table["REASONS"][:] = "uncatalogued in SDSS12 to 22.1, 4 sequences; detected in both VT_R and VT_B"
    table["ALPHA"][:] = 1.1
    table["N_DET"][:] = 4
    table["EFLAG_MAX"][:] = 0
    table["MXT_DIST"][:] = 0.4 if with_mxt else np.nan
    table["B_MINUS_R"][:] = 0.5
    table["Z_HINT"][:] = "z<4"
    table["VERIFIED"][:] = True
    if n_rows:
        table["B_MINUS_R"][-1] = np.nan
        table["Z_HINT"][-1] = "undetermined"
        table["EFLAG_MAX"][-1] = NULL_INT
    return table


def make_catalog_table(combined: Table) -> Table:
    table = _empty_table(CATALOG_COLUMNS, len(combined))
    table["VT_ID"] = combined["VT_ID"]
    table["RA_R0"] = combined["RA"] + 1e-5
    table["MAG_R_R0"] = combined["MAGCAL_R0"] + 0.1
    table["ANGDIST_R0"] = 0.04
    return table


def make_result(
    n_rows: int = 5,
    sequences=DEFAULT_SEQUENCES,
    *,
    with_mxt: bool = True,
    statuses=None,
    candidate_rows=(0, 1, 2),
    n_best: int = 2,
    failure_message: str = "HTTP 503 from the service",
) -> QpoVtResult:
    """A small but complete QpoVtResult, as the core would hand it to the writers."""
    statuses = STATUSES if statuses is None else statuses
    combined = make_combined(n_rows, list(sequences), with_mxt)
    candidates = make_candidates(combined, candidate_rows, with_mxt)
    catalogs = [
        CatalogAnswer(
            name=name,
            status=status,
            table=Table({"ID": np.arange(7)}) if status is CatalogStatus.OK else None,
            message="" if status is CatalogStatus.OK else failure_message,
            truncated=False,
        )
        for name, status in statuses.items()
    ]
    return QpoVtResult(
        burst_id="sb25020504",
        sequences=make_sequences(sequences),
        mxt=MxtPosition(ra=212.6408, dec=29.6971, r90_arcsec=41.0) if with_mxt else None,
        combined=combined,
        catalogs=catalogs,
        catalog_tables={answer.name: make_catalog_table(combined) for answer in catalogs if answer.usable},
        candidates=candidates,
        best=candidates[:n_best],
        n_rejected=3,
    )
