"""Reading an existing QPO_VT (the FSC's or ours) for re-ranking, and writing the ranking as JSON.

The COMBINED extension carries everything :func:`vtac.core.rerank.rank_combined` needs; the X-ray circle
comes from ``MXT_RA``/``MXT_DEC``/``MXT_ERR`` (deg) of the primary or COMBINED header, where present.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.table import Table

from vtac.adapters.files import write_atomically
from vtac.core.records import MxtPosition
from vtac.core.rerank import RankedField
from vtac.errors import InputError
from vtac.provenance import CodeVersion

RANK_SCHEMA_VERSION = "1.1"  # 1.1: the version and commit of the code that ranked
_REQUIRED = ("VT_ID", "RA", "DEC", "MAGCAL_R0", "SEQFLAG0")


def read_combined(path: Path) -> tuple[Table, MxtPosition | None, str | None]:
    """The COMBINED table, the X-ray circle (if the headers give one) and the BURST_ID of a QPO_VT file."""
    try:
        with fits.open(path, memmap=False) as hdul:
            if "COMBINED" not in hdul:
                raise InputError("no COMBINED extension: not a QPO_VT product", file=str(path))
            primary, combined = hdul[0], hdul["COMBINED"]
            table = Table(combined.data)  # pylint: disable=no-member  # a BinTableHDU, not the list
            headers = (primary.header, combined.header)  # pylint: disable=no-member
    except OSError as error:
        raise InputError(f"cannot read the FITS file ({error})", file=str(path)) from error
    for name in _REQUIRED:
        if name not in table.colnames:
            raise InputError("required column missing", file=str(path), hdu="COMBINED", column=name)
    return table, _mxt(headers), next((str(h["BURST_ID"]) for h in headers if "BURST_ID" in h), None)


def _mxt(headers: tuple[fits.Header, ...]) -> MxtPosition | None:
    for header in headers:
        try:
            ra, dec, err = (float(header[key]) for key in ("MXT_RA", "MXT_DEC", "MXT_ERR"))
        except (KeyError, TypeError, ValueError):
            continue
        if all(math.isfinite(v) for v in (ra, dec, err)) and err > 0:
            return MxtPosition(ra, dec, err * 3600.0)
    return None


def ranking_document(  # pylint: disable=too-many-arguments  # each one a field of the document
    ranked: RankedField,
    *,
    source: str,
    burst_id: str | None,
    mxt: MxtPosition | None,
    floor: float,
    code: CodeVersion,
) -> dict[str, Any]:
    """The ranking in the summary's conventions: candidates best first with probability and reasons, and
    which code ranked them."""
    keep = np.flatnonzero(ranked.probability >= floor)
    return {
        "schema_version": RANK_SCHEMA_VERSION,
        "version": code.version,
        "commit": code.commit,
        "source_file": source,
        "burst_id": burst_id,
        "mxt": None if mxt is None else {"ra": mxt.ra, "dec": mxt.dec, "r90_arcsec": mxt.r90_arcsec},
        "xray_note": None
        if mxt is not None
        else "no X-ray position: the probabilities account for the whole field",
        "n_sources": len(ranked.vt_id),
        "p_none": _number(ranked.p_none),
        "candidates": [
            {
                "rank": rank,
                "vt_id": int(ranked.vt_id[k]),
                "joined_vt_ids": ranked.joined_ids[k][1:],
                "ra": _number(ranked.ra[k]),
                "dec": _number(ranked.dec[k]),
                "probability": _number(ranked.probability[k]),
                "reasons": ranked.reasons[k],
                "in_mxt": {1: True, 0: False}.get(int(ranked.in_mxt[k])),
            }
            for rank, k in enumerate(keep, start=1)
        ],
    }


def write_ranking(document: dict[str, Any], path: Path) -> Path:
    """Strict JSON (no NaN), written atomically."""
    text = json.dumps(document, allow_nan=False, indent=2) + "\n"
    return write_atomically(path, lambda stream: stream.write(text.encode("utf-8")))


def _number(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
