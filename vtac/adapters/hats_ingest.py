"""``vtac catalog ingest``: catalogue files into a HATS catalogue, in memory or with ``hats-import`` on Dask.

Layout of ``DIR/``: ``<NAME>/`` is the HATS catalogue (what ``--catalog NAME=DIR/NAME`` reads, what ``lsdb``
opens), with ``vtac_ingested.json`` (the SHA-256 of every file already in it). Each input file is read with
the same column conventions as a ``--catalog`` file, in VTAC's normalised columns, and the catalogue is
rebuilt with the rows it already held; the new catalogue replaces the old one.

Two engines write the same HATS layout. A catalogue whose inputs and rows fit in memory
(:data:`IN_MEMORY_BYTES`) is partitioned in this process (:mod:`vtac.adapters.hats_build`: hats-import's
partitioning, written with the ``hats`` library, on ``workers`` threads), several times faster on two
cores (``bench/store.md``). A larger one, a ``--scheduler`` or ``--dask`` goes through ``hats-import`` on
Dask (a local worker with ``workers`` threads, or the scheduler given): the rows are staged as Parquet in
``DIR/.<NAME>.ingest/`` with the partitions already there, and an interrupted ingest is resumed by running
it again (staged files are kept, and ``hats-import`` resumes its own stages). In memory, running it again
redoes it.

Row-level de-duplication by source id: a source's rows (from two formats of the same catalogue, or two
overlapping fetches) keep the first one ingested. In memory over the whole catalogue; with hats-import a
source's rows share a position, hence a HEALPix partition, and each partition keeps one row per ``ID``
after the import (the row counts of the metadata and the properties follow). A file whose content was
already ingested is skipped without rebuilding.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table
from numpy.typing import NDArray

from vtac.adapters.catalog_file import LAYOUTS, catalog_layout_name, normalise_catalog_table, text_ids
from vtac.adapters.hats_build import (
    Layout,
    cells_at,
    merged_order,
    one_chunk_per_column,
    order_of_kept,
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
#: PS1-like rows; the peak is about four times this: 882 MB for two files of 104 MB); above it, hats-import
#: on Dask.
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
    """How the catalogue is rebuilt: in memory on ``workers`` threads, or hats-import on Dask."""

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
    fits (:data:`IN_MEMORY_BYTES`) and neither ``scheduler`` nor ``dask`` is given, else with hats-import on
    Dask.
    """
    canonical = catalog_layout_name(name)
    _require_hats()
    paths = [existing_file(path) for path in files]
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
            "vtac catalog ingest and fetch need hats (and hats-import for Dask): pip install 'vtac[ingest]'"
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
        mocs, dropped = _build_with_hats_import(canonical, list(new.values()), target, work, engine)
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


def _build_with_hats_import(
    name: str, inputs: list[_Input], target: Path, work: Path, engine: _Engine
) -> tuple[list[str], int]:
    """Stage the new inputs and the catalogue's partitions, run hats-import, de-duplicate each partition;
    return the new inputs' MOCs and the duplicate rows dropped.
    """
    staging = work / "input"
    staging.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max(1, engine.workers)) as pool:
        list(pool.map(partial(_stage, staging=staging), inputs))
    # the rows already held first, then the inputs in order: hats-import reads a pixel's shards by input
    # number (as text: in order up to ten inputs) and sorts them stably, so a source's first row is kept
    staged = [staging / f"{item.digest}.parquet" for item in inputs]
    if target.exists():
        staged.insert(0, _stage_existing(target, staging))
    _run_import(name, staged, work, engine)
    mocs = [(staging / f"{item.digest}.moc").read_text(encoding="utf-8") for item in inputs]
    return mocs, deduplicate(work / "out" / name, engine.layout)


def _stage(item: _Input, staging: Path) -> None:
    """The rows as Parquet of the normalised columns and their coverage as a MOC (kept if interrupted)."""
    staged = staging / f"{item.digest}.parquet"
    if staged.exists():
        return
    table = item.read()
    (staging / f"{item.digest}.moc").write_text(_input_moc(item, table), encoding="utf-8")
    _write_atomically(table.drop_columns([SPATIAL_INDEX]), staged)


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


def first_row_per_id(table: Any) -> tuple[Any, int]:
    """The table with only the first row of each ``ID``, and how many rows were dropped."""
    first = first_rows(table.column("ID"))
    if first is None:
        return table, 0
    return table.take(first), table.num_rows - len(first)


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


def _write_atomically(table: Any, path: Path) -> None:
    import pyarrow.parquet as pq  # pylint: disable=import-outside-toplevel

    partial_path = path.with_suffix(".partial")
    pq.write_table(table, partial_path)
    partial_path.rename(path)


def _stage_existing(target: Path, staging: Path) -> Path:
    """The catalogue's current partitions, without their spatial index, as one input of the rebuild (one
    partition in memory at a time).
    """
    import pyarrow.parquet as pq  # pylint: disable=import-outside-toplevel

    staged = staging / "existing.parquet"
    if staged.exists():
        return staged
    partial_path = staged.with_suffix(".partial")
    parts = _partitions(target)
    schema = pq.read_schema(parts[0]).remove(pq.read_schema(parts[0]).get_field_index(SPATIAL_INDEX))
    with pq.ParquetWriter(partial_path, schema.remove_metadata()) as writer:
        for part in parts:
            writer.write_table(pq.read_table(part).drop_columns([SPATIAL_INDEX]).replace_schema_metadata())
    partial_path.rename(staged)
    return staged


def _run_import(name: str, inputs: list[Path], work: Path, engine: _Engine) -> None:
    """``hats-import`` of the staged files, resumable, on the given Dask scheduler or a local cluster of
    one worker with ``workers`` threads (processes took 3 s more to start and to map 1e6 rows, for no gain:
    Arrow, pandas and Parquet release the GIL).
    """
    # pylint: disable=import-outside-toplevel
    try:
        from dask.distributed import Client
        from hats_import.catalog.arguments import ImportArguments
        from hats_import.pipeline import pipeline_with_client
    except ImportError as exc:
        raise ConfigurationError(
            "vtac catalog ingest needs hats-import and Dask: pip install 'vtac[ingest]'"
        ) from exc

    arguments = ImportArguments(
        output_path=work / "out",
        output_artifact_name=name,
        input_file_list=[str(path) for path in inputs],
        file_reader="parquet",
        ra_column="RA",
        dec_column="DEC",
        pixel_threshold=engine.layout.pixel_threshold,
        row_group_kwargs={"num_rows": engine.layout.row_group_rows},
        write_table_kwargs=engine.layout.write_table_kwargs(),
        tmp_dir=work / "tmp",
        dask_tmp=work / "dask",
        resume=True,
        progress_bar=False,
    )
    if engine.scheduler:
        with Client(engine.scheduler) as client:
            pipeline_with_client(arguments, client)
        return
    with Client(
        n_workers=1,
        threads_per_worker=max(1, engine.workers),
        processes=False,
        dashboard_address=None,
        local_directory=str(work / "dask"),
    ) as client:
        pipeline_with_client(arguments, client)


def deduplicate(catalog: Path, layout: Layout = LAYOUT) -> int:
    """Keep one row per ``ID`` in every partition; return the rows dropped (metadata rewritten if any)."""
    # pylint: disable=import-outside-toplevel
    import pyarrow.parquet as pq
    from hats.io.paths import get_healpix_from_path

    dropped = 0
    for part in _partitions(catalog):
        if not first_row_per_id(pq.read_table(part, columns=["ID"]))[1]:
            continue
        table, dropped_here = first_row_per_id(pq.read_table(part))
        write_partition(catalog, get_healpix_from_path(str(part)), table, layout)
        dropped += dropped_here
    if dropped:
        _rewrite_counts(catalog)
    return dropped


def _rewrite_counts(catalog: Path) -> None:
    """Parquet metadata and ``hats_nrows`` after rows were dropped."""
    # pylint: disable=import-outside-toplevel
    from hats.catalog.dataset.table_properties import TableProperties
    from hats.io.parquet_metadata import write_parquet_metadata

    rows = write_parquet_metadata(catalog)
    properties = TableProperties.read_from_dir(catalog)
    properties.copy_and_update(total_rows=int(rows)).to_properties_file(catalog)


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
