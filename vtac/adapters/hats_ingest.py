"""``vtac catalog ingest``: catalogue files into a HATS catalogue, in memory or by a map/reduce on Dask.

Layout of ``DIR/``: ``<NAME>/`` is the HATS catalogue (what ``--catalog NAME=DIR/NAME`` reads, what ``lsdb``
opens), with ``vtac_ingested.json`` (the SHA-256 of every file already in it). Each input file is read with
the same column conventions as a ``--catalog`` file, in VTAC's normalised columns, and the catalogue is
rebuilt with the rows it already held; the new catalogue replaces the old one.

Two engines write the same HATS layout (hats-import's partitioning, written with the ``hats`` library by
:mod:`vtac.adapters.hats_build`). A catalogue whose inputs and rows fit in memory (:data:`IN_MEMORY_BYTES`)
is partitioned in this process on ``workers`` threads. A larger one, a ``--scheduler`` or ``--dask`` goes
through a map/reduce on Dask (Dask's threaded scheduler with ``workers`` threads, or the cluster of the
scheduler given), never holding more than an input file or a partition per task: each input is staged in
``DIR/.<NAME>.ingest/`` sorted by ``_healpix_29``, and each partition is then gathered from its range of
every staged input. An interrupted Dask ingest is resumed by running it again (the staged inputs and the
partitions already written are kept); in memory, running it again redoes it.

Not ``hats-import``, which this engine replaced: on two cores it ingested 1-2e5 rows/s, and no argument of
it helps. Its alignment (the choice of the partitions) is a pure-Python pass over the 16.8 million HEALPix
cells of orders 0 to 10 (3-5 s whatever the size; ``highest_healpix_order`` lowers it but changes the
point map), and its split is a ``np.unique`` of every row's pixel tuple and a filter of each chunk per pixel.
Here the partitions are chosen from the non-empty cells with numpy (:func:`destination_pixels`) and a
partition's rows are a contiguous slice of each sorted staged input. hats-import remains a test dependency:
the tests assert that both engines write the partitions it writes.

Row-level de-duplication by source id: a source's rows (from two formats of the same catalogue, or two
overlapping fetches) keep the first one ingested. In memory over the whole catalogue; on Dask within each
partition (a source's rows share a position, hence a partition; the partitions are chosen before the
repeats are dropped, the point map and row counts after).
A file whose content was already ingested is skipped without rebuilding.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table
from numpy.typing import NDArray

from vtac.adapters.catalog_file import LAYOUTS, catalog_layout_name, normalise_catalog_table, text_ids
from vtac.adapters.hats_build import (
    MAPPING_ORDER,
    SPATIAL_INDEX_ORDER,
    Layout,
    cells_at,
    destination_pixels,
    finish_catalog,
    index_range,
    merged_order,
    one_chunk_per_column,
    order_of_kept,
    point_map,
    run_starts,
    sort_order,
    spatial_index,
    write_catalog,
    write_partition,
)
from vtac.adapters.hats_catalog import COVERAGE
from vtac.adapters.moc import COVERAGE_ORDER, MAX_COVERAGE_ORDER, cone_moc
from vtac.adapters.tables import existing_file, read_table_file
from vtac.core.coverage import Cone
from vtac.errors import ConfigurationError, InputError

log = logging.getLogger(__name__)

RECORD = "vtac_ingested.json"
#: Rows per HEALPix partition (hats-import splits finer where denser): a few MB of Parquet per file.
PIXEL_THRESHOLD = 500_000
#: Rows per Parquet row group: a 10' cone reads a few of them (rows are sorted by ``_healpix_29``).
ROW_GROUP_ROWS = 2_000
#: Snappy, not hats-import's zstd: a warm 10' cone decompressed zstd 4 times slower, for 10 % less disk.
COMPRESSION = "snappy"
LAYOUT = Layout(PIXEL_THRESHOLD, ROW_GROUP_ROWS, COMPRESSION)
#: Input files and rows already in the catalogue up to this many bytes are partitioned in memory (2e7
#: PS1-like rows; the peak is about four times this: 882 MB for two files of 104 MB); above it, the
#: map/reduce on Dask.
IN_MEMORY_BYTES = 2_000_000_000
#: The in-memory size of a catalogue row beside its numbers (the ``ID`` text and Arrow's offsets).
ID_BYTES = 24
SPATIAL_INDEX = "_healpix_29"


@dataclass(frozen=True)
class IngestResult:
    """What an ingest did."""

    directory: Path
    files_added: int
    rows: int
    duplicates_dropped: int


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's content."""
    with existing_file(path).open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


@dataclass(frozen=True)
class _Input:
    """One thing to add: its identity (content digest) and how to read its normalised rows (Arrow, with
    ``_healpix_29`` first)."""

    digest: str
    label: str
    read: Callable[[], Any]
    #: The cone it vouches for (a fetch); None: the cells holding its rows (a whole catalogue file).
    cone: Cone | None = None


@dataclass(frozen=True)
class _Engine:
    """How the catalogue is rebuilt: in memory on ``workers`` threads, or a map/reduce on Dask."""

    in_memory: bool
    workers: int = 1
    scheduler: str | None = None
    layout: Layout = LAYOUT


def ingest_hats(  # pylint: disable=too-many-arguments
    name: str,
    files: list[Path],
    into: Path,
    *,
    scheduler: str | None = None,
    workers: int = 2,
    pixel_threshold: int = PIXEL_THRESHOLD,
    dask: bool = False,
) -> IngestResult:
    """Add catalogue files to the HATS catalogue ``into/<NAME>`` (created if absent): in memory when it
    fits (:data:`IN_MEMORY_BYTES`) and neither ``scheduler`` nor ``dask`` is given, else by a map/reduce on
    Dask.
    """
    canonical = catalog_layout_name(name)
    _require_hats()
    paths = [existing_file(path).resolve() for path in files]  # a cluster's workers run elsewhere
    with ThreadPoolExecutor(max(1, workers)) as pool:
        digests = list(pool.map(file_digest, paths))
    inputs = [
        _Input(digest, path.name, partial(read_rows, canonical, path))
        for digest, path in zip(digests, paths, strict=True)
    ]
    size = sum(path.stat().st_size for path in paths) + _catalog_bytes(canonical, into / canonical)
    in_memory = size <= IN_MEMORY_BYTES and not dask and not scheduler
    layout = Layout(pixel_threshold, ROW_GROUP_ROWS, COMPRESSION)
    engine = _Engine(in_memory, workers, scheduler, layout)
    return _add(canonical, inputs, into, engine)


def add_fetched_cone(name: str, table: Table, cone: Cone, into: Path) -> IngestResult:
    """Add the normalised answer of a fetched cone; the catalogue then vouches for that cone (its MOC)."""
    canonical = catalog_layout_name(name)
    _require_hats()
    digest = hashlib.sha256(f"{cone}".encode())
    digest.update("\n".join(np.asarray(table["ID"]).astype(str)).encode())
    columns = {column: np.asarray(table[column]) for column in table.colnames}
    fetched = _Input(digest.hexdigest(), f"cone {cone}", partial(_arrow_rows, canonical, columns), cone)
    engine = _Engine(_catalog_bytes(canonical, into / canonical) <= IN_MEMORY_BYTES)
    return _add(canonical, [fetched], into, engine)


def _require_hats() -> None:
    """The ingest writes with the ``hats`` library (the ``vtac[ingest]`` extra, not in the images)."""
    try:
        import hats  # noqa: F401  # pylint: disable=import-outside-toplevel,unused-import
    except ImportError as exc:
        raise ConfigurationError(
            "vtac catalog ingest and fetch need hats (and dask): pip install 'vtac[ingest]'"
        ) from exc


def read_rows(name: str, path: Path) -> Any:
    """A catalogue file's rows in the catalogue's Arrow schema, ``_healpix_29`` first."""
    normalised = normalise_catalog_table(name, read_table_file(path, lazy_fits=True).table, path.name)
    return _arrow_rows(name, normalised.columns)


def _add(canonical: str, inputs: list[_Input], into: Path, engine: _Engine) -> IngestResult:
    """Rebuild the catalogue with the new inputs and those already in it, de-duplicated; swap it in."""
    target = into / canonical
    work = into / f".{canonical}.ingest"
    record_path = target / RECORD
    ingested: list[str] = json.loads(record_path.read_text(encoding="utf-8")) if record_path.exists() else []
    new: dict[str, _Input] = {}
    for item in inputs:
        if item.digest in ingested or item.digest in new:
            log.warning("%s: %s already ingested (same content), skipped", canonical, item.label)
            continue
        new[item.digest] = item
    if not new:
        shutil.rmtree(work, ignore_errors=True)
        return IngestResult(target, 0, _total_rows(target), 0)
    built = work / "out" / canonical
    if engine.in_memory:
        mocs, dropped = _build_in_memory(canonical, list(new.values()), target, built, engine)
    else:
        mocs, dropped = _build_with_dask(canonical, list(new.values()), target, work, engine)
    (built / COVERAGE).write_text(_coverage(target, mocs), encoding="utf-8")
    (built / RECORD).write_text(json.dumps(ingested + list(new), indent=1), encoding="utf-8")
    if target.exists():
        target.rename(work / "replaced")
    built.rename(target)
    shutil.rmtree(work)
    return IngestResult(target, len(new), _total_rows(target), dropped)


def _build_in_memory(
    name: str, inputs: list[_Input], target: Path, built: Path, engine: _Engine
) -> tuple[list[str], int]:
    """The catalogue's rows and the new ones, one row per ``ID``, written as HATS into ``built``; return
    the new inputs' MOCs and the duplicate rows dropped. Each input is read and sorted by ``_healpix_29`` on
    its own thread; the sorted inputs are then merged while the ids are checked (both release the GIL), and
    the rows made one chunk per column before the inputs are let go (the peak: inputs and their copy).
    """
    import pyarrow as pa  # pylint: disable=import-outside-toplevel

    shutil.rmtree(built, ignore_errors=True)
    built.mkdir(parents=True)
    with ThreadPoolExecutor(max(1, engine.workers)) as pool:
        tables = list(pool.map(lambda item: item.read(), inputs))
        mocs = [_input_moc(item, table) for item, table in zip(inputs, tables, strict=True)]
        # the rows already held first: a source's first row ingested is the one kept
        tables = (list(_existing_rows(name, target)) if target.exists() else []) + tables
        orders = list(pool.map(sort_order, tables))
        rows = pa.concat_tables(tables)
        if not rows.num_rows:
            raise InputError("no rows to ingest (a HATS catalogue holds at least one)", file=inputs[0].label)
        merging = pool.submit(merged_order, tables, orders)
        kept = first_rows(rows.column("ID"))
        order = merging.result()
        del tables, orders
        rows = one_chunk_per_column(rows, pool)
    dropped = 0 if kept is None else rows.num_rows - len(kept)
    if kept is not None:
        rows, order = rows.take(kept), order_of_kept(order, kept)
    write_catalog(rows, built, name, engine.layout, threads=engine.workers, order=order)
    return mocs, dropped


def _build_with_dask(
    name: str, inputs: list[_Input], target: Path, work: Path, engine: _Engine
) -> tuple[list[str], int]:
    """The catalogue's rows and the new ones, one row per ``ID`` in each partition, written as HATS into
    ``work/out/<name>`` by a map/reduce on Dask; return the new inputs' MOCs and the duplicate rows dropped.

    Map: each new input is read, sorted by ``_healpix_29`` and staged as an Arrow file with its histogram
    (the catalogue's own partitions are already sorted: only their histograms are read). Driver: the
    partitions, hats-import's choice from the summed histograms. Reduce: each partition's rows are a
    contiguous range of every sorted run (the per-pixel shards of hats-import, without writing them again),
    concatenated with the catalogue's rows first and the inputs in order, merged, one row per ``ID`` kept
    (the first), written. Staged inputs and written partitions are kept until the catalogue is swapped in,
    so running an interrupted ingest again redoes only what was not done.
    """
    work = work.resolve()  # the workers of a cluster may run elsewhere (a shared file system)
    staging, built = work / "input", work / "out" / name
    staging.mkdir(parents=True, exist_ok=True)
    existing = [_Run(part.resolve(), "parquet") for part in _partitions(target)] if target.exists() else []
    with _dask_compute(engine) as compute:
        mapped = compute(
            [_delayed(_histogram)(run.path) for run in existing]
            + [_delayed(_stage_sorted)(item, staging) for item in inputs]
        )
        runs = existing + [_Run(staging / f"{item.digest}.arrow", "arrow") for item in inputs]
        cells, counts = _summed(mapped)
        if cells.size == 0:
            raise InputError("no rows to ingest (a HATS catalogue holds at least one)", file=inputs[0].label)
        chosen = destination_pixels(cells, counts, engine.layout.pixel_threshold)
        pixels = [pixel for pixel, _ in chosen]
        done = _reduce_state(work, runs, pixels)
        overlapping = _runs_overlapping(pixels, [cells for cells, _ in mapped])
        reduced = compute(
            [
                _delayed(_reduce_pixel)(
                    name, pixel, [runs[run] for run in where], built, done, layout=engine.layout, rows=rows
                )
                for (pixel, rows), where in zip(chosen, overlapping, strict=True)
            ]
        )
    kept = _summed(reduced)
    finish_catalog(built, name, engine.layout, pixels, kept, engine="Dask")
    mocs = [(staging / f"{item.digest}.moc").read_text(encoding="utf-8") for item in inputs]
    return mocs, int(counts.sum() - kept[1].sum())


@dataclass(frozen=True)
class _Run:
    """Rows sorted by ``_healpix_29`` on disk: a staged input (``arrow``) or a catalogue partition."""

    path: Path
    kind: str


def _delayed(function: Callable[..., Any]) -> Any:
    import dask  # pylint: disable=import-outside-toplevel

    return dask.delayed(function, pure=False)


@contextmanager
def _dask_compute(engine: _Engine) -> Iterator[Callable[[list[Any]], list[Any]]]:
    """Run tasks on the Dask scheduler given (``dask.distributed``), else on Dask's threaded scheduler with
    ``workers`` threads: nothing to import or start (``dask.distributed`` and an in-process LocalCluster
    took 0.6 s, a third of the 2 s two 1e6-row files may take at 1e6 rows/s); Arrow, Parquet and the sorts
    release the GIL.
    """
    # pylint: disable=import-outside-toplevel
    try:
        import dask
    except ImportError as exc:
        raise ConfigurationError(
            "vtac catalog ingest on Dask needs dask: pip install 'vtac[ingest]'"
        ) from exc
    if not engine.scheduler:
        yield lambda tasks: list(
            dask.compute(*tasks, scheduler="threads", num_workers=max(1, engine.workers))
        )
        return
    from dask.distributed import Client

    with Client(engine.scheduler) as client:
        yield lambda tasks: list(dask.compute(*tasks, scheduler=client))


def _stage_sorted(item: _Input, staging: Path) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Map: the input's rows sorted by ``_healpix_29`` as an Arrow file, its MOC and its histogram (written
    last: the mark that the input is staged, kept if the ingest is interrupted); return the histogram.
    """
    import pyarrow as pa  # pylint: disable=import-outside-toplevel

    histogram_path = staging / f"{item.digest}.npz"
    if histogram_path.exists():
        return _load_histogram(histogram_path)
    table = item.read()
    (staging / f"{item.digest}.moc").write_text(_input_moc(item, table), encoding="utf-8")
    table = table.take(sort_order(table))
    partial_path = staging / f"{item.digest}.partial"
    with pa.OSFile(str(partial_path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=max(1, table.num_rows))
    partial_path.rename(staging / f"{item.digest}.arrow")
    histogram = point_map(table.column(0).to_numpy())
    _save_histogram(histogram_path, histogram)
    return histogram


def _histogram(partition: Path) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Map: the histogram of a catalogue partition (sorted by ``_healpix_29``)."""
    import pyarrow.parquet as pq  # pylint: disable=import-outside-toplevel

    return point_map(pq.read_table(partition, columns=[SPATIAL_INDEX]).column(0).to_numpy())


def _summed(
    histograms: list[tuple[NDArray[np.int64], NDArray[np.int64]]],
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """One histogram (non-empty cells, sorted, and their rows) from several."""
    cells = np.concatenate([cells for cells, _ in histograms])
    counts = np.concatenate([counts for _, counts in histograms])
    summed_cells, where = np.unique(cells, return_inverse=True)
    return summed_cells, np.bincount(where, weights=counts, minlength=len(summed_cells)).astype(np.int64)


def _runs_overlapping(pixels: list[Any], run_cells: list[NDArray[np.int64]]) -> list[NDArray[np.intp]]:
    """For each partition, the runs (in order) whose ``_healpix_29`` span, from their non-empty cells of
    :data:`MAPPING_ORDER`, meets it: a partition opens only the files that may hold its rows.
    """
    shift = 2 * (SPATIAL_INDEX_ORDER - MAPPING_ORDER)
    spans = np.array([(cells[0] << shift, (cells[-1] + 1) << shift) for cells in run_cells if len(cells)])
    runs = np.array([run for run, cells in enumerate(run_cells) if len(cells)])
    found = []
    for pixel in pixels:
        low, high = index_range(pixel)
        found.append(runs[(spans[:, 0] < high) & (spans[:, 1] > low)])
    return found


def _reduce_state(work: Path, runs: list[_Run], pixels: list[Any]) -> Path:
    """The directory marking the partitions written, kept from an interrupted run of the same plan (the
    same runs and partitions), else emptied with what was written.
    """
    plan = json.dumps({"runs": [str(run.path) for run in runs], "pixels": [str(pixel) for pixel in pixels]})
    done = work / "reduced"
    if (work / "plan.json").exists() and (work / "plan.json").read_text(encoding="utf-8") == plan:
        return done
    shutil.rmtree(done, ignore_errors=True)
    shutil.rmtree(work / "out", ignore_errors=True)
    done.mkdir(parents=True)
    (work / "plan.json").write_text(plan, encoding="utf-8")
    return done


def _reduce_pixel(  # pylint: disable=too-many-arguments
    name: str, pixel: Any, runs: list[_Run], built: Path, done: Path, *, layout: Layout, rows: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Reduce: one partition from its range of every run (in run order), merged by ``_healpix_29``, the
    first row of each ``ID`` kept; return the histogram of the rows written (marked done with it). ``rows``:
    how many the histograms counted there (a staged file changed since is an error, not a silent loss).
    """
    import pyarrow as pa  # pylint: disable=import-outside-toplevel

    mark = done / f"{pixel.order}_{pixel.pixel}.npz"
    if mark.exists():
        return _load_histogram(mark)
    low, high = index_range(pixel)
    table = pa.concat_tables([_rows_between(name, run, low, high) for run in runs])
    if table.num_rows != rows:
        raise InputError(f"{table.num_rows} rows in partition {pixel} for {rows} mapped", file=str(built))
    order, kept = sort_order(table), first_rows(table.column("ID"))
    if kept is not None:
        order = kept[order_of_kept(order, kept)]
    table = table.take(order)
    write_partition(built, pixel, table, layout)
    histogram = point_map(table.column(0).to_numpy())
    _save_histogram(mark, histogram)
    return histogram


def _rows_between(name: str, run: _Run, low: int, high: int) -> Any:
    """A run's rows with ``low <= _healpix_29 < high`` in the catalogue's Arrow schema: a slice of the
    memory-mapped Arrow file, or the row groups of a partition that hold them.
    """
    # pylint: disable=import-outside-toplevel
    import pyarrow as pa
    import pyarrow.parquet as pq

    if run.kind == "arrow":
        table = pa.ipc.open_file(pa.memory_map(str(run.path))).read_all()
        index = table.column(0).to_numpy()
        start, end = np.searchsorted(index, [low, high])
        return table.slice(int(start), int(end - start))
    schema = _normalised_schema(name)
    filters = [(SPATIAL_INDEX, ">=", low), (SPATIAL_INDEX, "<", high)]
    return pq.read_table(run.path, columns=schema.names, filters=filters).cast(schema)


def _save_histogram(path: Path, histogram: tuple[NDArray[np.int64], NDArray[np.int64]]) -> None:
    partial_path = path.with_suffix(".partial.npz")
    np.savez(partial_path, cells=histogram[0], counts=histogram[1])
    partial_path.rename(path)


def _load_histogram(path: Path) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    with np.load(path) as saved:
        return saved["cells"], saved["counts"]


def _input_moc(item: _Input, table: Any) -> str:
    """What an input vouches for, as an ASCII MOC: a fetched cone's inner cells, else the cells of
    :data:`COVERAGE_ORDER` holding its rows.
    """
    from mocpy import MOC  # pylint: disable=import-outside-toplevel

    if item.cone is not None:
        moc = cone_moc(item.cone, MAX_COVERAGE_ORDER, inner=True)
    else:
        counts = np.bincount(cells_at(table.column(SPATIAL_INDEX).to_numpy(), COVERAGE_ORDER))
        cells = np.flatnonzero(counts)
        depths = np.full(len(cells), COVERAGE_ORDER, dtype=np.uint8)
        moc = MOC.from_healpix_cells(cells.astype(np.uint64), depths, max_depth=COVERAGE_ORDER)
    return str(moc.to_string(format="ascii"))


def _coverage(target: Path, new: list[str]) -> str:
    """The catalogue's coverage after the rebuild: what it covered, with what the new inputs cover."""
    from mocpy import MOC  # pylint: disable=import-outside-toplevel

    texts = list(new)
    if (target / COVERAGE).exists():
        texts.append((target / COVERAGE).read_text(encoding="utf-8"))
    moc = MOC.from_string(texts[0], format="ascii")
    for text in texts[1:]:
        moc = moc.union(MOC.from_string(text, format="ascii"))
    return str(moc.to_string(format="ascii"))


def _normalised_schema(name: str) -> Any:
    """The one Arrow schema of a catalogue's rows, whatever format each file came in: ``_healpix_29``,
    then VTAC's normalised columns.
    """
    import pyarrow as pa  # pylint: disable=import-outside-toplevel

    layout = LAYOUTS[name]
    fields = [pa.field(SPATIAL_INDEX, pa.int64()), pa.field("ID", pa.string())]
    fields += [pa.field("RA", pa.float64()), pa.field("DEC", pa.float64())]
    if layout.pmra:
        fields += [pa.field("PMRA", pa.float64()), pa.field("PMDEC", pa.float64())]
    fields.append(pa.field("EPOCH", pa.float64()))
    for band in layout.bands:
        fields += [pa.field(f"MAG_{band.name}", pa.float64()), pa.field(f"ERR_{band.name}", pa.float64())]
    if layout.classes:
        fields.append(pa.field("CLASS", pa.int64()))
    return pa.schema(fields)


def _arrow_rows(name: str, columns: Mapping[str, NDArray[Any]]) -> Any:
    """Normalised columns in the catalogue's Arrow schema with their ``_healpix_29`` (proper motions a
    file lacks: NaN).
    """
    import pyarrow as pa  # pylint: disable=import-outside-toplevel

    schema = _normalised_schema(name)
    n_rows = len(columns["RA"])
    arrays = [pa.array(spatial_index(np.asarray(columns["RA"]), np.asarray(columns["DEC"])))]
    for field in list(schema)[1:]:
        if field.name == "ID":
            arrays.append(arrow_ids(columns["ID"]))
        elif field.name in columns:
            arrays.append(pa.array(np.asarray(columns[field.name]), type=field.type))
        else:
            arrays.append(pa.array(np.full(n_rows, np.nan), type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def arrow_ids(values: NDArray[Any]) -> Any:
    """Identifiers as Arrow text, as :func:`text_ids` writes them: integers cast by Arrow (ten times
    faster than numpy's text conversion), anything else through :func:`text_ids`.
    """
    import pyarrow as pa  # pylint: disable=import-outside-toplevel

    data = np.ma.asarray(values)
    if data.dtype.kind in "iu" and not np.ma.is_masked(data):
        return pa.array(np.ma.getdata(data).astype(data.dtype.newbyteorder("="))).cast(pa.string())
    return pa.array(text_ids(data), type=pa.string())


def first_rows(ids: Any) -> NDArray[np.intp] | None:
    """The rows (sorted) holding each id first; None when no id repeats."""
    keys = integer_keys(ids)
    return _first_rows_of_text(ids) if keys is None else _first_rows_of_integers(keys)


def _first_rows_of_text(ids: Any) -> NDArray[np.intp] | None:
    """The sorted rows holding each id first; None when no id repeats (Arrow's hash of the text)."""
    import pyarrow as pa  # pylint: disable=import-outside-toplevel

    if len(ids.unique()) == len(ids):
        return None
    rows = pa.table({"ID": ids, "row": np.arange(len(ids))})
    return np.sort(rows.group_by("ID", use_threads=False).aggregate([("row", "min")])["row_min"].to_numpy())


def _first_rows_of_integers(keys: NDArray[np.int64]) -> NDArray[np.intp] | None:
    """The sorted rows holding each id first; None when no id repeats (a sort of the integers: timsort,
    which merges the runs a survey's files come in, sorted by id or by the position their ids encode).
    """
    ordered = np.sort(keys, kind="stable")
    if (ordered[1:] != ordered[:-1]).all():
        return None
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    return np.sort(order[run_starts(ordered)])


def integer_keys(ids: Any) -> NDArray[np.int64] | None:
    """The ids as integers when every one is an integer written as :func:`arrow_ids` writes it (the usual
    survey ids): sorting them tells duplicates apart 20 times faster than hashing their text. None otherwise
    (a leading zero or sign would make two ids one integer).
    """
    import pyarrow as pa  # pylint: disable=import-outside-toplevel

    try:
        keys = ids.cast(pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if not keys.cast(pa.string()).equals(ids):
        return None
    return np.asarray(keys.to_numpy(), dtype=np.int64)


def _existing_rows(name: str, target: Path) -> Iterator[Any]:
    """The catalogue's partitions in its Arrow schema."""
    import pyarrow.parquet as pq  # pylint: disable=import-outside-toplevel

    schema = _normalised_schema(name)
    for part in _partitions(target):
        yield pq.read_table(part).select(schema.names).cast(schema)


def _partitions(catalog: Path) -> list[Path]:
    return sorted((catalog / "dataset").glob("Norder=*/Dir=*/Npix=*.parquet"))


def _catalog_bytes(name: str, target: Path) -> int:
    """The in-memory size of the rows already in the catalogue (0 if there is none)."""
    return _total_rows(target) * (8 * (len(_normalised_schema(name)) - 1) + ID_BYTES)


def _total_rows(target: Path) -> int:
    """The rows of a catalogue VTAC ingested (0 if there is none); any other directory is an input error:
    a survey's own HATS copy is read with ``--catalog``, not rebuilt.
    """
    if not target.exists():
        return 0
    if not (target / RECORD).exists():
        raise InputError(
            f"not a catalogue vtac catalog ingest wrote (no {RECORD}): ingest elsewhere", file=str(target)
        )
    from hats.catalog.dataset.table_properties import TableProperties  # pylint: disable=import-outside-toplevel

    return int(TableProperties.read_from_dir(target).total_rows or 0)
