"""HATS catalogues (HEALPix-partitioned Parquet, the field's format for large surveys) read by cone.

``--catalog NAME=PATH`` with PATH a HATS catalogue: a directory holding ``hats.properties`` (or
``properties``), a collection (``collection.properties``, what ``lsdb`` writes: its primary table), or a URI
pyarrow opens (``s3://``, ``gs://``, ``hdfs://``). It is opened once per process (properties,
``partition_info.csv``, schema, and the MOC of its ``point_map.fits``); each cone then reads only the
partitions it overlaps and, in them, only the Parquet row groups whose ``_healpix_29`` span meets the
cone's cells. pyarrow and mocpy only: no Dask, no pandas on the latency path, and the images need neither
``hats`` nor its numba/pandas stack to read a catalogue (``vtac catalog ingest`` writes them, with
``vtac[ingest]``).
Rows are cut exactly by great-circle separation.

Columns: a catalogue written by ``vtac catalog ingest`` holds VTAC's normalised columns (``ID``, ``RA``,
``DEC``, ``EPOCH``, ``MAG_<band>``...) and is read as it is; any other HATS catalogue (a mirror of Gaia DR3
or PS1) goes through the same column conventions as a file (:func:`read_catalog_table`: VizieR's or the
archives' names), reading only the columns the layout uses. Outside the catalogue's MOC the answer is
NOT_COVERED, never an empty OK. pyarrow and mocpy are imported on first use, so the one-off command pays
for them only when it reads a HATS catalogue.
"""

from __future__ import annotations

import atexit
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table

from vtac.adapters.catalog_file import layout_columns, read_catalog_table
from vtac.adapters.moc import cone_moc, moc_coverage
from vtac.core.coverage import Cone, Coverage
from vtac.core.records import CatalogAnswer, CatalogStatus
from vtac.core.sky import separation_arcsec
from vtac.errors import InputError

PROPERTIES_FILES = ("hats.properties", "properties", "collection.properties")
#: The coverage a catalogue written by ``vtac catalog ingest``/``fetch`` vouches for (IVOA MOC 2.0 ASCII):
#: the cells holding rows of whole files, and the fetched cones. Without it, the ``point_map.fits``.
COVERAGE = "coverage.moc"
SPATIAL_INDEX = "_healpix_29"
#: The columns by which a catalogue written by ``vtac catalog ingest`` is recognised (read as it is).
NORMALISED = ("ID", "RA", "DEC", "EPOCH")
#: HEALPix order of the cone's ``_healpix_29`` ranges used to skip row groups (cells of 0.86').
ROW_GROUP_ORDER = 12
#: Partitions whose Parquet footer (and row-group spans) an opened catalogue keeps.
FOOTERS_KEPT = 512


def is_hats(source: str) -> bool:
    """Whether a ``--catalog`` source names a HATS catalogue (a URL, or a directory with its properties)."""
    if "://" in source:
        return True
    path = Path(source)
    return path.is_dir() and any((path / name).is_file() for name in PROPERTIES_FILES)


@dataclass(frozen=True)
class HatsProvider:
    """A HATS catalogue: the cone, from its partitions."""

    source: str

    def query(self, name: str, cone: Cone, deadline: float) -> CatalogAnswer:
        """The catalogue's rows in the cone (local files: the deadline does not apply)."""
        del deadline
        return open_hats(self.source).cone(name, cone)


class HatsCatalog:
    """One opened HATS catalogue: its properties, partitions, schema and MOC, read with pyarrow."""

    def __init__(self, source: str) -> None:
        import pyarrow.fs as pafs  # pylint: disable=import-outside-toplevel

        self.source = source
        try:
            if "://" in source:
                self.fs, root = pafs.FileSystem.from_uri(source)
            else:
                self.fs, root = pafs.LocalFileSystem(), str(Path(source).resolve())
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot open the HATS location: {exc}", file=source) from exc
        self.root = self._main_table(root.rstrip("/"))
        properties = self._properties()
        self.ra_column = properties.get("hats_col_ra", "ra")
        self.dec_column = properties.get("hats_col_dec", "dec")
        self.npix_suffix = properties.get("hats_npix_suffix", ".parquet")
        self.orders, self.pixels = self._partitions()
        self.columns = [str(name) for name in self._schema().names]
        self.moc = self._coverage_moc()
        self._footers: OrderedDict[str, tuple[Any, np.ndarray, np.ndarray]] = OrderedDict()
        self._footers_lock = threading.Lock()  # the service's queries and the prefetch share one catalogue
        self.normalised = all(column in self.columns for column in NORMALISED)

    def _text(self, name: str) -> str | None:
        """A small file of the catalogue as text, None when absent."""
        path = f"{self.root}/{name}"
        try:
            with self.fs.open_input_stream(path) as stream:
                return bytes(stream.read()).decode("utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise InputError(f"unreadable HATS file: {exc}", file=path) from exc

    def _main_table(self, root: str) -> str:
        """The catalogue itself, or a collection's primary table (what lsdb writes)."""
        self.root = root
        collection = self._text("collection.properties")
        if collection is None:
            return root
        primary = _parse_properties(collection).get("hats_primary_table_url")
        if not primary:
            raise InputError(
                "HATS collection without hats_primary_table_url", file=f"{root}/collection.properties"
            )
        return f"{root}/{primary}"

    def _properties(self) -> dict[str, str]:
        text = self._text("hats.properties") or self._text("properties")
        if text is None:
            raise InputError("not a HATS catalogue: no hats.properties or properties file", file=self.root)
        properties = _parse_properties(text)
        if properties.get("dataproduct_type", "object") not in ("object", "source"):
            raise InputError(
                f"HATS {properties['dataproduct_type']} table, not a catalogue of sources", file=self.root
            )
        return properties

    def _partitions(self) -> tuple[np.ndarray, np.ndarray]:
        """Orders and pixel numbers of the partitions (``partition_info.csv``)."""
        text = self._text("partition_info.csv")
        name = f"{self.root}/partition_info.csv"
        if text is None:
            raise InputError("not a HATS catalogue: no partition_info.csv", file=name)
        lines = [line.split(",") for line in text.split() if line and not line.startswith("Norder")]
        try:
            cells = np.array([[int(order), int(pixel)] for order, pixel, *_ in lines], dtype=np.int64)
        except ValueError as exc:
            raise InputError(f"bad partition line: {exc}", file=name) from exc
        cells = cells.reshape(-1, 2)
        return cells[:, 0], cells[:, 1]

    def _schema(self) -> Any:
        import pyarrow.parquet as pq  # pylint: disable=import-outside-toplevel

        for name in ("dataset/_common_metadata", "dataset/_metadata"):
            try:
                return pq.read_schema(f"{self.root}/{name}", filesystem=self.fs)
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as exc:
                raise InputError(f"unreadable HATS schema: {exc}", file=f"{self.root}/{name}") from exc
        if len(self.pixels) == 0:
            raise InputError("HATS catalogue without schema nor partition", file=self.root)
        first = self._pixel_path(int(self.orders[0]), int(self.pixels[0]))
        return pq.read_schema(first, filesystem=self.fs)

    def _coverage_moc(self) -> Any:
        """The catalogue's coverage: its ``coverage.moc``, else the cells of its ``point_map.fits`` holding
        rows (None without either: then the whole sky).
        """
        from astropy.io import fits  # pylint: disable=import-outside-toplevel
        from mocpy import MOC  # pylint: disable=import-outside-toplevel

        text = self._text(COVERAGE)
        if text is not None:
            try:
                return MOC.from_string(text, format="ascii")
            except (ValueError, OSError) as exc:
                raise InputError(f"unreadable MOC: {exc}", file=f"{self.root}/{COVERAGE}") from exc
        path = f"{self.root}/point_map.fits"
        try:
            with self.fs.open_input_file(path) as stream, fits.open(stream, memmap=False) as hdus:
                cells, order = _point_map_cells(hdus[1])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, IndexError) as exc:
            raise InputError(f"unreadable HATS point map: {exc}", file=path) from exc
        return MOC.from_healpix_cells(cells, np.full(len(cells), order, dtype=np.uint8), order)

    def coverage(self, cone: Cone) -> Coverage:
        """How much of the cone the catalogue's MOC covers (all of it when the catalogue has no MOC)."""
        return Coverage.FULL if self.moc is None else moc_coverage(self.moc, cone)

    def cone(self, name: str, cone: Cone) -> CatalogAnswer:
        """Every row within the cone, normalised; NOT_COVERED outside the catalogue's MOC."""
        coverage = self.coverage(cone)
        where = f"{cone.radius_deg * 60:.1f}' around ({cone.ra:.5f}, {cone.dec:+.5f})"
        if coverage is Coverage.NONE:
            return CatalogAnswer(
                name, CatalogStatus.NOT_COVERED, None, f"HATS catalogue {self.source} does not cover {where}"
            )
        rows = self._rows_in_cone(name, cone)
        origin = f"HATS catalogue {self.source}"
        if self.normalised:
            rows["ID"] = np.asarray(rows["ID"]).astype(str)
            answer = CatalogAnswer(name, CatalogStatus.OK, rows, f"{len(rows)} sources from {origin}")
        else:
            answer = read_catalog_table(name, rows, origin)
        if coverage is Coverage.PARTIAL:
            answer.message += " (field partly outside the catalogue's coverage)"
        return answer

    def _read_columns(self, name: str) -> list[str]:
        columns = (
            [column for column in self.columns if column != SPATIAL_INDEX]
            if self.normalised
            else layout_columns(name, self.columns)
        )
        return columns + [c for c in (self.ra_column, self.dec_column) if c not in columns]

    def _rows_in_cone(self, name: str, cone: Cone) -> Table:
        """The rows within the cone: the cut is made on the Arrow table, only kept rows become numpy."""
        import pyarrow as pa  # pylint: disable=import-outside-toplevel

        ranges = _cone_ranges(cone)
        columns = self._read_columns(name)
        shift = (2 * (29 - self.orders)).astype(np.uint64)
        low, high = self.pixels.astype(np.uint64) << shift, ((self.pixels + 1).astype(np.uint64) << shift) - 1
        parts = [
            self._read_pixel(int(self.orders[index]), int(self.pixels[index]), ranges, columns)
            for index in _groups_meeting(low, high, ranges)
        ]
        if not parts:
            return Table({column: np.array([], dtype=float) for column in columns})
        rows = pa.concat_tables(parts)
        ra, dec = (
            rows.column(column).to_numpy().astype(float, copy=False)
            for column in (self.ra_column, self.dec_column)
        )
        inside = separation_arcsec(ra, dec, cone.ra, cone.dec) <= cone.radius_deg * 3600.0
        return Table(_to_numpy(rows.filter(pa.array(inside))))

    def _pixel_path(self, order: int, pixel: int) -> str:
        """``dataset/Norder=<k>/Dir=<10000 x floor(n / 10000)>/Npix=<n><suffix>``, as HATS names them."""
        path = f"{self.root}/dataset/Norder={order}/Dir={pixel // 10000 * 10000}/Npix={pixel}"
        return path if self.npix_suffix == "/" else path + self.npix_suffix

    def _footer(self, path: str) -> tuple[Any, np.ndarray, np.ndarray]:
        """A partition's Parquet footer and its row groups' ``_healpix_29`` spans, read once."""
        import pyarrow.parquet as pq  # pylint: disable=import-outside-toplevel

        with self._footers_lock:
            footer = self._footers.get(path)
        if footer is None:
            with self.fs.open_input_file(path) as stream:
                metadata = pq.ParquetFile(stream).metadata
            footer = (metadata, *_row_group_spans(metadata))
            with self._footers_lock:
                self._footers[path] = footer
                while len(self._footers) > FOOTERS_KEPT:
                    self._footers.popitem(last=False)
        return footer

    def _read_pixel(self, order: int, pixel: int, ranges: np.ndarray, columns: list[str]) -> Any:
        """The row groups of one partition whose ``_healpix_29`` span meets the cone's ranges."""
        import pyarrow.parquet as pq  # pylint: disable=import-outside-toplevel

        path = self._pixel_path(order, pixel)
        try:
            if self.npix_suffix == "/":  # a directory of files per pixel
                return pq.read_table(path, columns=columns, filesystem=self.fs)
            metadata, low, high = self._footer(path)
            with self.fs.open_input_file(path) as stream:
                parquet = pq.ParquetFile(stream, metadata=metadata)
                return parquet.read_row_groups(_groups_meeting(low, high, ranges), columns=columns)
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"unreadable HATS partition: {exc}", file=path) from exc


@lru_cache(maxsize=8)
def open_hats(source: str) -> HatsCatalog:
    """The opened catalogue (cached: a warm cone reads only the partitions' data)."""
    return HatsCatalog(source)


# The cached catalogues hold MOCs: let them go while mocpy still stands (see vtac.adapters.moc).
atexit.register(open_hats.cache_clear)


def _parse_properties(text: str) -> dict[str, str]:
    """``key=value`` lines (Java properties as HATS writes them; ``#`` comments)."""
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def _point_map_cells(hdu: Any) -> tuple[np.ndarray, int]:
    """Non-empty cells and order of a HEALPix FITS map (explicit PIXEL/VALUE, or implicit NESTED)."""
    order = round(np.log2(int(hdu.header["NSIDE"])))
    if str(hdu.header.get("ORDERING", "NESTED")).strip().upper() != "NESTED":
        raise ValueError("point map not in NESTED ordering")
    data = hdu.data
    if str(hdu.header.get("INDXSCHM", "IMPLICIT")).strip().upper() == "EXPLICIT":
        pixels, values = np.asarray(data["PIXEL"]), np.asarray(data["VALUE"])
        return pixels[values > 0].astype(np.uint64), order
    values = np.asarray(data.field(0)).ravel()
    return np.flatnonzero(values > 0).astype(np.uint64), order


def _to_numpy(table: Any) -> dict[str, np.ndarray]:
    """A pyarrow table as numpy columns (text as str, missing floats NaN)."""
    columns = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        values = column.to_numpy(zero_copy_only=False)
        columns[name] = values.astype(str) if values.dtype == object else values
    return columns


def _cone_ranges(cone: Cone) -> np.ndarray:
    """The cone's cells as sorted, disjoint ``[start, end)`` ranges of ``_healpix_29`` values."""
    moc = cone_moc(cone, ROW_GROUP_ORDER)
    return np.asarray(moc.to_depth29_ranges, dtype=np.uint64).reshape(-1, 2)


def _row_group_spans(metadata: Any) -> tuple[np.ndarray, np.ndarray]:
    """Each row group's least and greatest ``_healpix_29`` (0 and the maximum without statistics)."""
    n_groups = metadata.num_row_groups
    low, high = np.zeros(n_groups, dtype=np.uint64), np.full(n_groups, np.iinfo(np.uint64).max)
    names = [metadata.schema.column(i).name for i in range(metadata.num_columns)]
    if SPATIAL_INDEX not in names:
        return low, high
    index = names.index(SPATIAL_INDEX)
    for group in range(n_groups):
        stats = metadata.row_group(group).column(index).statistics
        if stats is not None and stats.has_min_max:
            low[group], high[group] = stats.min, stats.max
    return low, high


def _groups_meeting(low: np.ndarray, high: np.ndarray, ranges: np.ndarray) -> list[int]:
    """Row groups whose ``[low, high]`` span meets one of the sorted, disjoint ``[start, end)`` ranges."""
    last = np.searchsorted(ranges[:, 0], high, side="right") - 1
    meets = (last >= 0) & (ranges[np.maximum(last, 0), 1] > low)
    return [int(group) for group in np.flatnonzero(meets)]
