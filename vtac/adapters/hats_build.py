"""A HATS catalogue written as ``hats-import`` would write it: from rows held in memory
(:func:`write_catalog`), or its metadata once the Dask engine has written the partitions
(:func:`finish_catalog`).

``hats-import`` ingests 1-2e5 rows/s on two cores (its alignment alone is a Python loop over the 16.8
million HEALPix cells of orders 0 to 10). The partitions are chosen here with the same decisions and
written with the ``hats`` library's own functions: the same ``_healpix_29`` spatial index, the same
alignment (:func:`hats.pixel_math.generate_alignment` on the same histogram, with hats-import's
``drop_empty_siblings`` and lower-order choice), partitions sorted by ``_healpix_29`` and cut into row
groups by :func:`split_to_row_groups` with hats' Parquet encodings, then ``partition_info.csv``,
``_metadata``/``_common_metadata``, ``point_map.fits`` (the bytes hats writes, from the non-empty cells),
``skymap.fits`` and the properties; the result is checked with :func:`hats.io.validation.is_valid_catalog`.
Only the provenance differs (``hats_builder`` names VTAC and the engine). In memory, rows are sorted once
for all partitions (each input on its own, then merged: :func:`merged_order`), the table made one chunk per
column, and each partition gathered and written by one of ``threads`` threads (Arrow's take and Parquet
encoding release the GIL).
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vtac.errors import InputError

#: hats-import's defaults: the order of the histogram the partitions are chosen from (cells of 3.4').
MAPPING_ORDER = 10
SPATIAL_INDEX_ORDER = 29


@dataclass(frozen=True)
class Layout:
    """How the partitions are cut and written (hats-import's ``pixel_threshold``, ``row_group_kwargs``
    and ``write_table_kwargs``)."""

    pixel_threshold: int
    row_group_rows: int
    compression: str

    def write_table_kwargs(self) -> dict[str, Any]:
        """Overrides of hats' Parquet defaults: the compression; no dictionary (hats' default for text and
        integer columns): source ids are all different, a dictionary never pays (the write took 13 % longer,
        the files were 3 % larger); no page index: a row group's column is one page (2000 rows, well under
        the 128 kB of a page), so it would repeat the row groups' statistics (10 % of the write).
        """
        return {"compression": self.compression, "use_dictionary": False, "write_page_index": False}


def spatial_index(ra: NDArray[np.float64], dec: NDArray[np.float64]) -> NDArray[np.int64]:
    """HATS's ``_healpix_29`` of each position (NESTED HEALPix cell of order 29)."""
    from hats.pixel_math.spatial_index import compute_spatial_index  # pylint: disable=import-outside-toplevel

    return np.asarray(compute_spatial_index(ra, dec), dtype=np.int64)


def cells_at(index: NDArray[np.int64], order: int) -> NDArray[np.int64]:
    """The cells of ``order`` holding the positions of these ``_healpix_29`` values."""
    return np.asarray(index >> (2 * (SPATIAL_INDEX_ORDER - order)), dtype=np.int64)


def sort_order(table: Any) -> NDArray[np.intp]:
    """The rows' order by ``_healpix_29`` (the table's first column), ties in table order (timsort: rows
    already sorted, such as a HATS partition's, cost one pass).
    """
    return np.argsort(table.column(0).to_numpy(), kind="stable")


def merged_order(tables: list[Any], orders: list[NDArray[np.intp]]) -> NDArray[np.intp]:
    """:func:`sort_order` of the tables concatenated, from each one's own (a merge of sorted runs)."""
    offsets = np.cumsum([0, *(len(order) for order in orders)])
    keys = np.concatenate(
        [table.column(0).to_numpy()[order] for table, order in zip(tables, orders, strict=True)]
    )
    rows = np.concatenate([order + offset for order, offset in zip(orders, offsets, strict=False)])
    return rows[np.argsort(keys, kind="stable")]


def order_of_kept(order: NDArray[np.intp], kept: NDArray[np.intp]) -> NDArray[np.intp]:
    """The order of the rows ``kept`` (sorted row numbers) taken from a table sorted by ``order``."""
    position = np.full(len(order), -1)
    position[kept] = np.arange(len(kept))
    reordered = position[order]
    return reordered[reordered >= 0]


def write_catalog(  # pylint: disable=too-many-arguments,too-many-locals
    table: Any,
    catalog_dir: Path,
    name: str,
    layout: Layout,
    *,
    threads: int = 1,
    order: NDArray[np.intp] | None = None,
) -> int:
    """Write ``table`` (Arrow, ``_healpix_29`` its first column, RA/DEC columns) as the HATS catalogue
    ``catalog_dir``; return its row count. ``order`` is :func:`sort_order` of the table if already known.
    Each partition's rows are gathered in sorted order by the thread that writes it.
    """
    order = sort_order(table) if order is None else order
    with ThreadPoolExecutor(max(1, threads)) as pool:
        table = one_chunk_per_column(table, pool)
        index = table.column(0).to_numpy()[order]
        cells, counts = point_map(index)
        pixels = destination_pixels(cells, counts, layout.pixel_threshold)
        starts = np.searchsorted(index, [first_index(pixel) for pixel, _ in pixels])

        def write(part: int) -> None:
            (pixel, count), start = pixels[part], int(starts[part])
            write_partition(catalog_dir, pixel, table.take(order[start : start + count]), layout)

        list(pool.map(write, sorted(range(len(pixels)), key=lambda part: -pixels[part][1])))
    return finish_catalog(
        catalog_dir, name, layout, [pixel for pixel, _ in pixels], (cells, counts), engine="in memory"
    )


def finish_catalog(  # pylint: disable=too-many-arguments
    catalog_dir: Path,
    name: str,
    layout: Layout,
    pixels: list[Any],
    histogram: tuple[NDArray[np.int64], NDArray[np.int64]],
    *,
    engine: str,
) -> int:
    """The catalogue's metadata once its partitions (``pixels``, NESTED order) are written: partition info,
    ``_metadata``, point map and skymap (``histogram``: the non-empty cells of :data:`MAPPING_ORDER` and
    their rows), properties (``engine`` named in ``hats_builder``); checked by hats. Return the rows.
    """
    # pylint: disable=import-outside-toplevel
    from hats.catalog import PartitionInfo
    from hats.io import paths
    from hats.io.parquet_metadata import write_parquet_metadata
    from hats.io.validation import is_valid_catalog

    cells, counts = histogram
    partition_info = PartitionInfo.from_healpix(pixels)
    partition_info.write_to_file(paths.get_partition_info_pointer(catalog_dir))
    rows = int(write_parquet_metadata(catalog_dir))
    if rows != int(counts.sum()):
        raise InputError(f"{rows} rows written for {int(counts.sum())}", file=str(catalog_dir))
    point_map_path = str(paths.get_point_map_file_pointer(catalog_dir))
    write_point_map(cells, counts, point_map_path)
    # hats' write_skymap(histogram) writes the same bytes: written once
    shutil.copyfile(point_map_path, str(paths.get_skymap_file_pointer(catalog_dir)))
    _properties(name, rows, partition_info, layout, catalog_dir, engine=engine).to_properties_file(
        catalog_dir
    )
    if not is_valid_catalog(catalog_dir):
        raise InputError("the HATS catalogue written is not valid", file=str(catalog_dir))
    return rows


def one_chunk_per_column(table: Any, pool: ThreadPoolExecutor) -> Any:
    """The table with each column in one chunk, columns combined on the pool's threads: Arrow's take
    concatenates a column's chunks at every call, so each partition's take copied the whole table.
    """
    import pyarrow as pa  # pylint: disable=import-outside-toplevel

    if all(column.num_chunks == 1 for column in table.columns):
        return table
    return pa.Table.from_arrays(list(pool.map(_one_chunk, table.columns)), schema=table.schema)


def _one_chunk(column: Any) -> Any:
    return column.combine_chunks()


def run_starts(ordered: NDArray[Any]) -> NDArray[np.bool_]:
    """True at the first element of each run of equal values (``ordered`` sorted, not empty)."""
    return np.concatenate([[True], ordered[1:] != ordered[:-1]])


def point_map(index: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The non-empty cells of :data:`MAPPING_ORDER` and their rows, from sorted ``_healpix_29`` values: the
    histogram hats-import maps, without its 12.6 million cells.
    """
    cells = cells_at(index, MAPPING_ORDER)
    starts = np.flatnonzero(run_starts(cells))
    return cells[starts], np.diff(np.append(starts, len(cells)))


def write_point_map(
    cells: NDArray[np.int64], counts: NDArray[np.int64], path: Any, order: int = MAPPING_ORDER
) -> None:
    """``point_map.fits`` as :func:`hats.io.file_io.write_fits_image` writes it (the same bytes): explicit
    (cells and counts) when more than half the cells are empty, else the whole histogram.
    """
    # pylint: disable=import-outside-toplevel
    from cdshealpix.skymap import SkymapExplicit
    from hats.io.file_io import write_fits_image

    n_cells = 12 * 4**order
    if 2 * len(cells) < n_cells:
        SkymapExplicit(cells.astype(np.uint64), counts, order).to_fits(str(path))
        return
    histogram = np.zeros(n_cells, dtype=np.int64)
    histogram[cells] = counts
    write_fits_image(histogram, path)


def destination_pixels(
    cells: NDArray[np.int64], counts: NDArray[np.int64], threshold: int
) -> list[tuple[Any, int]]:
    """The partitions (HealpixPixel, rows) hats-import would choose from this histogram (its non-empty
    cells of :data:`MAPPING_ORDER`, sorted), in NESTED order.

    ``generate_alignment`` (with hats-import's ``use_lower_order``) first lowers its highest order to the
    lowest one whose cells all hold at most ``threshold`` rows, then aligns at that order; its pure-Python
    sums over the 12.6 million cells of order 10 take seconds, so that order is found here with numpy from
    the non-empty cells and the alignment asked of ``hats`` at it (the same result).
    """
    # pylint: disable=import-outside-toplevel
    from hats.pixel_math import HealpixPixel
    from hats.pixel_math.partition_stats import generate_alignment

    order = MAPPING_ORDER
    while order > 1 and _largest_parent(cells, counts, MAPPING_ORDER - order + 1) <= threshold:
        order -= 1
    parents = cells >> (2 * (MAPPING_ORDER - order))
    sums = np.bincount(parents, weights=counts, minlength=12 * 4**order).astype(np.int64)
    alignment = generate_alignment(
        sums, highest_order=order, threshold=threshold, drop_empty_siblings=True, use_lower_order=True
    )
    chosen = {(int(o), int(p)): int(n) for o, p, n in (cell for cell in alignment if cell is not None)}
    return [
        (HealpixPixel(o, p), n)
        for (o, p), n in sorted(chosen.items(), key=lambda item: first_index(HealpixPixel(*item[0])))
    ]


def _largest_parent(cells: NDArray[np.int64], counts: NDArray[np.int64], levels: int) -> int:
    """The most rows in one cell ``levels`` orders above these (sorted, non-empty) cells."""
    starts = np.flatnonzero(run_starts(cells >> (2 * levels)))
    return int(np.add.reduceat(counts, starts).max())


def first_index(pixel: Any) -> int:
    """The first ``_healpix_29`` value inside a HEALPix pixel (NESTED: a pixel is a range of them)."""
    return int(pixel.pixel) << (2 * (SPATIAL_INDEX_ORDER - int(pixel.order)))


def index_range(pixel: Any) -> tuple[int, int]:
    """The ``_healpix_29`` values inside a HEALPix pixel: ``low <= value < high``."""
    return first_index(pixel), first_index(type(pixel)(pixel.order, pixel.pixel + 1))


def write_partition(catalog_dir: Path, pixel: Any, rows: Any, layout: Layout) -> None:
    """One partition as hats-import's reduce stage writes it (sorted by ``_healpix_29``, hats' encodings,
    row groups of ``row_group_rows``). Written in place, as hats-import does: the catalogue being built is
    no one's until the ingest renames its directory into place.
    """
    # pylint: disable=import-outside-toplevel
    import pyarrow.parquet as pq
    from hats.io import paths
    from hats.io.file_io import get_parquet_write_table_kwargs
    from hats.pixel_math.spatial_index import split_to_row_groups

    path = Path(str(paths.pixel_catalog_file(catalog_dir, pixel)))
    path.parent.mkdir(parents=True, exist_ok=True)
    sorting = pq.SortingColumn.from_ordering(rows.schema, [(rows.schema.names[0], "ascending")])
    kwargs = get_parquet_write_table_kwargs(
        rows.schema, write_table_kwargs={**layout.write_table_kwargs(), "sorting_columns": sorting}
    )
    kwargs.pop("row_group_size", None)
    with pq.ParquetWriter(path, rows.schema, **kwargs) as writer:
        for group in split_to_row_groups(rows, {"num_rows": layout.row_group_rows}, pixel.order):
            writer.write_table(group)


def _properties(  # pylint: disable=too-many-arguments
    name: str, rows: int, partition_info: Any, layout: Layout, catalog_dir: Path, *, engine: str
) -> Any:
    """The ``hats.properties`` hats-import writes (``ImportArguments.to_table_properties``), VTAC (and its
    engine) as builder."""
    # pylint: disable=import-outside-toplevel
    from hats.catalog import TableProperties

    provenance = TableProperties.new_provenance_dict(
        catalog_dir, builder=f"vtac v{version('vtac')} ({engine})"
    )
    return TableProperties(
        **provenance,
        catalog_name=name,
        catalog_type="object",
        total_rows=rows,
        ra_column="RA",
        dec_column="DEC",
        hats_cols_sort=None,
        hats_max_rows=layout.pixel_threshold,
        hats_order=partition_info.get_highest_order(),
        moc_sky_fraction=f"{partition_info.calculate_fractional_coverage():0.5f}",
        hats_npix_suffix=".parquet",
        hats_skymap_order=MAPPING_ORDER,
        hats_col_healpix="_healpix_29",
        hats_col_healpix_order=SPATIAL_INDEX_ORDER,
    )
