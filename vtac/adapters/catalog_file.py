"""Reference catalogues from local files (or in-memory tables) with VizieR column names.

The result is the normalised :class:`~vtac.core.records.CatalogAnswer` table: ``ID`` (text, so that integer
ids and USNO-B1's ``1234-0567890`` look alike), ``RA``/``DEC`` (deg at ``EPOCH``), ``PMRA``/``PMDEC`` (mas/yr,
only when the catalogue has proper motions), ``EPOCH`` (Julian year), ``MAG_<band>``/``ERR_<band>`` for every
band of the catalogue (NaN when missing) and, for SDSS12, ``CLASS`` (3 galaxy, 6 star, 0 unknown).

Column names (looked up exactly, then ignoring case, then ignoring case and punctuation):

* GAIADR3 (I/355/gaiadr3): RA_ICRS, DE_ICRS, Source, Gmag/BPmag/RPmag with e_*, pmRA, pmDE, Epoch (default
  2016.0). Gaia magnitudes are Vega and kept as they are: the VT transform expects them so. The Gaia archive
  names (ra, dec, source_id, phot_g_mean_mag, pmra, pmdec, ref_epoch) are accepted too.
* PS1DR1 (II/349/ps1): RAJ2000, DEJ2000, objID, gmag..ymag, e_gmag..e_ymag; epoch 2000, no proper motion.
  MAST's names (raMean, decMean, gMeanPSFMag, gMeanPSFMagErr...), those of the PS1 HATS mirrors, too.
* SDSS12 (V/147/sdss12): RA_ICRS, DE_ICRS, objID (else the SDSS12 name), umag..zmag, e_umag..e_zmag, class.
* USNOB1 (I/284/out): RAJ2000, DEJ2000, USNO-B1.0, B1mag, R1mag, B2mag, R2mag, Imag (no errors: NaN), pmRA,
  pmDE; positions are at epoch 2000 (the catalogue's ``Epoch`` column is the mean observation epoch, unused).
* LSDR10 (Legacy Surveys DR10 Tractor): ra, dec, ls_id (else objid), and per band g, r, i, z either
  ``flux_<b>`` in nanomaggies with ``flux_ivar_<b>`` (mag = 22.5 - 2.5 log10 flux, AB; err = 1.0857 /
  (flux sqrt(ivar)); a non-positive flux gives NaN) or ``mag_<b>`` with optional ``magerr_<b>``; pmra, pmdec
  and ref_epoch when present (ref_epoch <= 0 means none: 2016.0).

RA/DEC must be present (:class:`~vtac.errors.InputError` naming the file and column otherwise); rows without
a finite position on the sky are dropped and counted in the message. Magnitudes outside (-5, 50) are taken as
survey sentinels (-9999, 99.99) and become NaN, as do negative errors.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table
from numpy.typing import NDArray

from vtac.adapters.tables import existing_file, find_column, float_values, read_table_file, unit_scale
from vtac.core.records import CATALOG_NAMES, CatalogAnswer, CatalogStatus
from vtac.errors import ConfigurationError, InputError

log = logging.getLogger(__name__)

#: Legacy Surveys fluxes are in nanomaggies: AB magnitude 22.5 is 1 nanomaggy.
NANOMAGGY_ZERO_POINT = 22.5
_MAG_RANGE = (-5.0, 50.0)
_TWO_POINT_FIVE_OVER_LN10 = 2.5 / np.log(10.0)


@dataclass(frozen=True)
class _Band:
    name: str
    mag: tuple[str, ...]
    err: tuple[str, ...] = ()
    flux: str | None = None
    flux_ivar: str | None = None
    #: Gaia: (flux, flux error) or flux-over-error columns, for the magnitude error when e_<b>mag is absent.
    flux_error: tuple[str, str] | None = None
    flux_over_error: str | None = None


@dataclass(frozen=True)
class _Layout:
    ra: tuple[str, ...]
    dec: tuple[str, ...]
    ids: tuple[str, ...]
    bands: tuple[_Band, ...]
    default_epoch: float
    epoch: tuple[str, ...] = ()
    pmra: tuple[str, ...] = ()
    pmdec: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()


def _vizier_bands(names: str, mag: str = "{b}mag", err: str = "e_{b}mag") -> tuple[_Band, ...]:
    return tuple(_Band(b, (mag.format(b=b),), (err.format(b=b),) if err else ()) for b in names.split())


_GAIA_BANDS = tuple(
    _Band(
        band,
        (f"{band}mag", f"phot_{band.lower()}_mean_mag"),
        (f"e_{band}mag",),
        flux_error=(f"F{band}", f"e_F{band}"),
        flux_over_error=f"phot_{band.lower()}_mean_flux_over_error",
    )
    for band in ("G", "BP", "RP")
)
_LS_BANDS = tuple(
    _Band(b, (f"mag_{b}",), (f"magerr_{b}",), flux=f"flux_{b}", flux_ivar=f"flux_ivar_{b}") for b in "griz"
)

LAYOUTS: dict[str, _Layout] = {
    "GAIADR3": _Layout(
        ra=("RA_ICRS", "ra"),
        dec=("DE_ICRS", "dec"),
        ids=("Source", "source_id", "DR3Name"),
        bands=_GAIA_BANDS,
        default_epoch=2016.0,
        epoch=("Epoch", "ref_epoch"),
        pmra=("pmRA", "pmra"),
        pmdec=("pmDE", "pmdec"),
    ),
    "PS1DR1": _Layout(
        ra=("RAJ2000", "_RAJ2000", "raMean"),
        dec=("DEJ2000", "_DEJ2000", "decMean"),
        ids=("objID",),
        bands=tuple(
            _Band(b, (f"{b}mag", f"{b}MeanPSFMag"), (f"e_{b}mag", f"{b}MeanPSFMagErr")) for b in "grizy"
        ),
        default_epoch=2000.0,
    ),
    "SDSS12": _Layout(
        ra=("RA_ICRS", "ra"),
        dec=("DE_ICRS", "dec"),
        ids=("objID", "SDSS12"),
        bands=_vizier_bands("u g r i z"),
        default_epoch=2000.0,
        classes=("class", "cl"),
    ),
    "USNOB1": _Layout(
        ra=("RAJ2000", "_RAJ2000"),
        dec=("DEJ2000", "_DEJ2000"),
        ids=("USNO-B1.0",),
        bands=_vizier_bands("B1 R1 B2 R2 I", err=""),
        default_epoch=2000.0,
        pmra=("pmRA",),
        pmdec=("pmDE",),
    ),
    "LSDR10": _Layout(
        ra=("ra",),
        dec=("dec",),
        ids=("ls_id", "objid"),
        bands=_LS_BANDS,
        default_epoch=2016.0,
        epoch=("ref_epoch",),
        pmra=("pmra",),
        pmdec=("pmdec",),
    ),
}


def catalog_layout_name(name: str) -> str:
    """The canonical catalogue name; an unknown one is a configuration error."""
    canonical = name.strip().upper()
    if canonical not in CATALOG_NAMES:
        raise ConfigurationError(f"unknown catalogue '{name}'; known: {', '.join(CATALOG_NAMES)}")
    return canonical


def layout_columns(name: str, available: list[str]) -> list[str]:
    """The columns of ``available`` the catalogue's layout reads (so a wide catalogue is read narrow)."""
    layout = LAYOUTS[catalog_layout_name(name)]
    groups = [layout.ra, layout.dec, layout.ids, layout.epoch, layout.pmra, layout.pmdec, layout.classes]
    for band in layout.bands:
        groups += [band.mag, band.err, *[(c,) for c in (band.flux, band.flux_ivar) if c]]
        groups += [(column,) for column in (*(band.flux_error or ()), band.flux_over_error) if column]
    found = {find_column(available, group) for group in groups if group}
    return [column for column in available if column in found]


def read_catalog_file(name: str, path: str | Path, *, need_magnitudes: bool = False) -> CatalogAnswer:
    """Read a local catalogue file (FITS, ECSV, CSV, VOTable by extension) into a normalised answer.

    A VOTable whose service said QUERY_STATUS=OVERFLOW gives ``truncated=True``; a service error response
    (INFO name="Error") is an input error. With ``need_magnitudes`` (a file used as evidence), rows without
    any magnitude are an input error too: against them every source would look new.
    """
    canonical = catalog_layout_name(name)
    path = existing_file(path)
    table_file = read_table_file(path, lazy_fits=True)  # the normalised columns are copies, not views
    answer = read_catalog_table(canonical, table_file.table, path.name)
    if (
        need_magnitudes
        and answer.table is not None
        and len(answer.table)
        and not _any_magnitude(answer.table)
    ):
        expected = ", ".join(band.mag[0] for band in LAYOUTS[canonical].bands)
        raise InputError(f"no magnitude for {canonical} in any row (columns {expected})", file=path.name)
    if table_file.overflow:
        answer.truncated = True
        answer.message += " (truncated by the service: QUERY_STATUS=OVERFLOW)"
    return answer


def _any_magnitude(table: Table) -> bool:
    return any(np.isfinite(table[name]).any() for name in table.colnames if name.startswith("MAG_"))


def read_catalog_table(name: str, table: Table, origin: str) -> CatalogAnswer:
    """Normalise an in-memory catalogue table (``origin`` names it in messages, e.g. the file name)."""
    normalised = normalise_catalog_table(name, table, origin)
    columns = dict(normalised.columns, ID=text_ids(normalised.columns["ID"]))
    result = Table(columns, copy=False)
    for key in ("RA", "DEC"):
        result[key].unit = "deg"
    return CatalogAnswer(normalised.name, CatalogStatus.OK, result, normalised.message)


@dataclass(frozen=True)
class NormalisedColumns:
    """A catalogue's rows in VTAC's normalised columns, ``ID`` still as the file holds it (see
    :func:`text_ids`): the ingest turns integer ids into text with Arrow, ten times faster than numpy.
    """

    name: str
    columns: dict[str, NDArray[Any]]
    message: str


def normalise_catalog_table(name: str, table: Table, origin: str) -> NormalisedColumns:
    """The normalised columns of a catalogue table; rows without a valid position dropped (and counted)."""
    canonical = catalog_layout_name(name)
    layout = LAYOUTS[canonical]
    columns = _Source(table, origin)
    ra = columns.floats(layout.ra, required=True, unit="deg")
    dec = columns.floats(layout.dec, required=True, unit="deg")
    keep = np.isfinite(ra) & np.isfinite(dec) & (np.abs(dec) <= 90.0)
    out: dict[str, Any] = {"ID": columns.raw_ids(layout.ids), "RA": np.mod(ra, 360.0, out=ra), "DEC": dec}
    if layout.pmra and columns.has(layout.pmra) and columns.has(layout.pmdec):
        out["PMRA"] = columns.floats(layout.pmra, unit="mas/yr")
        out["PMDEC"] = columns.floats(layout.pmdec, unit="mas/yr")
    out["EPOCH"] = _epochs(columns, layout)
    for band in layout.bands:
        out[f"MAG_{band.name}"], out[f"ERR_{band.name}"] = _photometry(columns, band)
    if layout.classes:
        classes = columns.floats(layout.classes) if columns.has(layout.classes) else np.zeros(len(table))
        out["CLASS"] = np.nan_to_num(classes, nan=0.0).astype(np.int64)
    n_dropped = int((~keep).sum())
    if n_dropped:
        out = {key: value[keep] for key, value in out.items()}
    message = f"{len(table) - n_dropped} sources from {origin}"
    if n_dropped:
        message += f", {n_dropped} rows without a valid position dropped"
        log.warning("%s: %s", canonical, message)
    if not any(columns.has(band.mag) or (band.flux and columns.has((band.flux,))) for band in layout.bands):
        log.warning("%s: %s has no magnitude column; every magnitude is NaN", canonical, origin)
    return NormalisedColumns(canonical, out, message)


def text_ids(values: NDArray[Any]) -> NDArray[np.str_]:
    """Identifiers as text (integer ids and USNO-B1's ``1234-0567890`` alike); a missing one is empty."""
    data = np.ma.asarray(values)
    text = np.ma.filled(data.astype(str), "")
    return text if data.dtype.kind in "iu" else np.char.strip(text)  # an integer's text has no blanks


class _Source:
    """Column access on the input table by alias, with the origin for error messages."""

    def __init__(self, table: Table, origin: str) -> None:
        self.table = table
        self.origin = origin

    def name(self, aliases: tuple[str, ...]) -> str | None:
        """The table's column for the first alias found, or None."""
        return find_column(self.table.colnames, aliases)

    def has(self, aliases: tuple[str, ...]) -> bool:
        """Whether any alias names a column."""
        return self.name(aliases) is not None

    def floats(self, aliases: tuple[str, ...], *, required: bool = False, unit: str | None = None) -> NDArray:
        """Values as float64 (NaN when missing or absent), converted to ``unit`` when the column has one."""
        name = self.name(aliases)
        if name is None:
            if required:
                raise InputError("required column missing", file=self.origin, column=aliases[0])
            return np.full(len(self.table), np.nan)
        values = float_values(self.table[name], file=self.origin, column_name=name)  # a copy of our own
        if unit is not None:
            values *= unit_scale(self.table[name].unit, unit, file=self.origin, column=name)
        return values

    def raw_ids(self, aliases: tuple[str, ...]) -> NDArray[Any]:
        """The identifier column as the file holds it; 1-based row numbers when the file has none."""
        name = self.name(aliases)
        if name is None:
            return np.arange(1, len(self.table) + 1)
        return np.ma.asarray(self.table[name])


def _epochs(columns: _Source, layout: _Layout) -> NDArray[np.float64]:
    if not layout.epoch or not columns.has(layout.epoch):
        return np.full(len(columns.table), layout.default_epoch)
    epochs = columns.floats(layout.epoch)
    return np.where(np.isfinite(epochs) & (epochs > 0), epochs, layout.default_epoch)


def _gaia_errors(columns: _Source, band: _Band) -> NDArray[np.float64]:
    """Magnitude error from Gaia fluxes (VizieR FG/e_FG, or the archive's flux_over_error); NaN otherwise."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if band.flux_error and all(columns.has((name,)) for name in band.flux_error):
            flux, flux_error = (columns.floats((name,)) for name in band.flux_error)
            return _TWO_POINT_FIVE_OVER_LN10 * flux_error / flux
        if band.flux_over_error and columns.has((band.flux_over_error,)):
            return _TWO_POINT_FIVE_OVER_LN10 / columns.floats((band.flux_over_error,))
    return np.full(len(columns.table), np.nan)


def _photometry(columns: _Source, band: _Band) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Magnitude and error of one band: from a nanomaggy flux when the catalogue has one, else magnitudes."""
    if band.flux is not None and columns.has((band.flux,)):
        flux = columns.floats((band.flux,))
        ivar = columns.floats((band.flux_ivar,)) if band.flux_ivar else np.full(len(flux), np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            positive = flux > 0
            mag = np.where(
                positive, NANOMAGGY_ZERO_POINT - 2.5 * np.log10(np.where(positive, flux, 1.0)), np.nan
            )
            err = np.where(positive & (ivar > 0), _TWO_POINT_FIVE_OVER_LN10 / (flux * np.sqrt(ivar)), np.nan)
    else:
        mag = columns.floats(band.mag)
        err = columns.floats(band.err) if band.err and columns.has(band.err) else _gaia_errors(columns, band)
    # in place: both are arrays of our own (an ingest's 1e6-row bands were copied twice more)
    np.copyto(mag, np.nan, where=~((mag > _MAG_RANGE[0]) & (mag < _MAG_RANGE[1])))
    np.copyto(err, np.nan, where=~(np.isfinite(mag) & (err >= 0)))
    return mag, err
