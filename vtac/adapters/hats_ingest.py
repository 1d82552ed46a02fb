"""``vtac catalog ingest``: catalogue files into a HATS catalogue with ``hats-import`` on Dask.

Layout of ``DIR/``: ``<NAME>/`` is the HATS catalogue (what ``--catalog NAME=DIR/NAME`` reads, what ``lsdb``
opens), with ``vtac_ingested.json`` (the SHA-256 of every file already in it). Each input file is read with
the same column conventions as a ``--catalog`` file and staged as Parquet of VTAC's normalised columns in
``DIR/.<NAME>.ingest/``; the partitions of the catalogue already there are staged too, then ``hats-import``
rebuilds the catalogue from them all (on a local Dask cluster, or the scheduler given) and the new catalogue
replaces the old one. An interrupted ingest is resumed by running it again: staged files are kept, and
``hats-import`` resumes its own stages.

Row-level de-duplication by source id: a source's rows (from two formats of the same catalogue, or two
overlapping fetches) share a position, hence a HEALPix partition; after the import, each partition keeps
one row per ``ID`` (the row counts of the metadata and the properties follow). A file whose content was
already ingested is skipped without rebuilding.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vtac.adapters.catalog_file import LAYOUTS, catalog_layout_name, read_catalog_file
from vtac.adapters.tables import existing_file
from vtac.errors import ConfigurationError

log = logging.getLogger(__name__)

RECORD = "vtac_ingested.json"
#: Rows per HEALPix partition (hats-import splits finer where denser): a few MB of Parquet per file.
PIXEL_THRESHOLD = 500_000
#: Rows per Parquet row group: a 10' cone reads a few of them (rows are sorted by ``_healpix_29``).
ROW_GROUP_ROWS = 5_000


@dataclass(frozen=True)
class IngestResult:
    """What an ingest did."""

    directory: Path
    files_added: int
    rows: int
    duplicates_dropped: int


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with existing_file(path).open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ingest_hats(
    name: str,
    files: list[Path],
    into: Path,
    *,
    scheduler: str | None = None,
    workers: int = 1,
    pixel_threshold: int = PIXEL_THRESHOLD,
) -> IngestResult:
    """Add catalogue files to the HATS catalogue ``into/<NAME>`` (created if absent)."""
    canonical = catalog_layout_name(name)
    target = into / canonical
    work = into / f".{canonical}.ingest"
    record_path = target / RECORD
    ingested: list[str] = json.loads(record_path.read_text(encoding="utf-8")) if record_path.exists() else []
    staging = work / "input"
    staging.mkdir(parents=True, exist_ok=True)
    new_digests = []
    for path in files:
        digest = file_digest(path)
        if digest in ingested or digest in new_digests:
            log.warning("%s: %s already ingested (same content), skipped", canonical, Path(path).name)
            continue
        _stage_file(canonical, path, staging / f"{digest}.parquet")
        new_digests.append(digest)
    if not new_digests:
        shutil.rmtree(work)
        return IngestResult(target, 0, _total_rows(target), 0)
    if target.exists():
        _stage_existing(target, staging)
    built = work / "out" / canonical
    inputs = sorted(staging.glob("*.parquet"))
    _run_import(
        canonical, inputs, work, scheduler=scheduler, workers=workers, pixel_threshold=pixel_threshold
    )
    dropped = deduplicate(built)
    (built / RECORD).write_text(json.dumps(ingested + new_digests, indent=1), encoding="utf-8")
    if target.exists():
        target.rename(work / "replaced")
    built.rename(target)
    shutil.rmtree(work)
    return IngestResult(target, len(new_digests), _total_rows(target), dropped)


def _normalised_schema(name: str) -> Any:
    """The one Arrow schema of a catalogue's staged rows, whatever format each file came in."""
    import pyarrow as pa  # pylint: disable=import-outside-toplevel

    layout = LAYOUTS[name]
    fields = [pa.field("ID", pa.string()), pa.field("RA", pa.float64()), pa.field("DEC", pa.float64())]
    if layout.pmra:
        fields += [pa.field("PMRA", pa.float64()), pa.field("PMDEC", pa.float64())]
    fields.append(pa.field("EPOCH", pa.float64()))
    for band in layout.bands:
        fields += [pa.field(f"MAG_{band.name}", pa.float64()), pa.field(f"ERR_{band.name}", pa.float64())]
    if layout.classes:
        fields.append(pa.field("CLASS", pa.int64()))
    return pa.schema(fields)


def _stage_file(name: str, path: Path, staged: Path) -> None:
    """One input file as Parquet of the normalised columns (kept across an interrupted ingest)."""
    import pyarrow as pa  # pylint: disable=import-outside-toplevel
    import pyarrow.parquet as pq  # pylint: disable=import-outside-toplevel

    if staged.exists():
        return
    table = read_catalog_file(name, path).table
    assert table is not None
    schema = _normalised_schema(name)
    columns = []
    for field in schema:
        if field.name in table.colnames:
            values = np.asarray(table[field.name])
            columns.append(pa.array(values.astype(str) if field.name == "ID" else values, type=field.type))
        else:  # proper motions a file of this catalogue lacks
            columns.append(pa.array(np.full(len(table), np.nan), type=field.type))
    partial = staged.with_suffix(".partial")
    pq.write_table(pa.Table.from_arrays(columns, schema=schema), partial)
    partial.rename(staged)


def _stage_existing(target: Path, staging: Path) -> None:
    """The catalogue's current partitions, without their spatial index, as inputs of the rebuild."""
    import pyarrow.parquet as pq  # pylint: disable=import-outside-toplevel

    for index, part in enumerate(sorted((target / "dataset").glob("Norder=*/Dir=*/Npix=*.parquet"))):
        staged = staging / f"existing-{index:06d}.parquet"
        if not staged.exists():
            table = pq.read_table(part)
            partial = staged.with_suffix(".partial")
            pq.write_table(table.drop_columns(["_healpix_29"]), partial)
            partial.rename(staged)


def _run_import(
    name: str, inputs: list[Path], work: Path, *, scheduler: str | None, workers: int, pixel_threshold: int
) -> None:
    """``hats-import`` of the staged files, resumable, on the given Dask scheduler or a local cluster."""
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
        pixel_threshold=pixel_threshold,
        row_group_kwargs={"num_rows": ROW_GROUP_ROWS},
        tmp_dir=work / "tmp",
        dask_tmp=work / "dask",
        resume=True,
        progress_bar=False,
    )
    if scheduler:
        with Client(scheduler) as client:
            pipeline_with_client(arguments, client)
        return
    with Client(
        n_workers=workers,
        threads_per_worker=1,
        processes=workers > 1,
        dashboard_address=None,
        local_directory=str(work / "dask"),
    ) as client:
        pipeline_with_client(arguments, client)


def deduplicate(catalog: Path) -> int:
    """Keep one row per ``ID`` in every partition; return the rows dropped (metadata rewritten if any)."""
    import pyarrow.parquet as pq  # pylint: disable=import-outside-toplevel

    dropped = 0
    for part in sorted((catalog / "dataset").glob("Norder=*/Dir=*/Npix=*.parquet")):
        ids = pq.read_table(part, columns=["ID"]).column("ID").to_numpy(zero_copy_only=False)
        _, first = np.unique(ids, return_index=True)
        if len(first) == len(ids):
            continue
        table = pq.read_table(part).take(np.sort(first))
        partial = part.with_suffix(".partial")
        pq.write_table(table, partial, row_group_size=ROW_GROUP_ROWS, sorting_columns=None)
        partial.replace(part)
        dropped += len(ids) - len(first)
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
    if not target.exists():
        return 0
    from hats.catalog.dataset.table_properties import TableProperties  # pylint: disable=import-outside-toplevel

    return int(TableProperties.read_from_dir(target).total_rows or 0)
