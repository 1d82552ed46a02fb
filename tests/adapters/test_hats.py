"""HATS catalogues: written by ``vtac catalog ingest`` (in memory or on Dask), read by cone."""

import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from paths import SDSS_FILE

from vtac.adapters import hats_ingest
from vtac.adapters.catalog_file import read_catalog_file, text_ids
from vtac.adapters.hats_build import write_partition
from vtac.adapters.hats_catalog import HatsCatalog, HatsProvider, is_hats, open_hats
from vtac.adapters.hats_ingest import arrow_ids, ingest_hats
from vtac.adapters.providers import RemoteSettings, resolve_provider
from vtac.core.coverage import Cone
from vtac.core.records import CatalogStatus
from vtac.entrypoints.cli import main as vtac
from vtac.errors import InputError
from vtac.simulation.burst import BurstSpec, simulate_burst
from vtac.simulation.sky import DEMO_CENTRE, find_case, load_demo_sky

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sdss_hats(tmp_path_factory):
    """The packaged SDSS field ingested to HATS once on Dask (``--dask``, the engine of catalogues beyond
    memory; the in-memory engine writes the same catalogue, as a test below checks).
    """
    root = tmp_path_factory.mktemp("hats")
    assert vtac(["catalog", "ingest", "SDSS12", str(SDSS_FILE), "--into", str(root), "--dask"]) == 0
    return root


def test_ingest_writes_a_real_hats_catalogue_that_lsdb_opens(sdss_hats):
    import lsdb
    from hats.catalog.dataset.table_properties import TableProperties

    assert "(Dask)" in TableProperties.read_from_dir(sdss_hats / "SDSS12").model_dump()["hats_builder"]

    catalog = lsdb.open_catalog(sdss_hats / "SDSS12")
    rows = catalog.compute()
    assert len(rows) == 15083 and rows["ID"].nunique() == 15083
    assert {"RA", "DEC", "MAG_r", "ERR_r", "CLASS"} <= set(rows.columns)
    cone = catalog.cone_search(215.6, 53.1, 300.0).compute()
    ours = open_hats(str(sdss_hats / "SDSS12")).cone("SDSS12", Cone(215.6, 53.1, 300.0 / 3600.0))
    assert ours.status is CatalogStatus.OK and ours.table is not None
    assert sorted(ours.table["ID"]) == sorted(cone["ID"].astype(str))


@pytest.mark.parametrize("engine", [[], ["--dask"]], ids=["in-memory", "dask"])
def test_the_same_rows_from_two_formats_are_found_once(tmp_path, capsys, engine):
    table = Table.read(SDSS_FILE)
    csv = tmp_path / "sdss.csv"
    table.write(csv, format="ascii.csv")
    store = tmp_path / "store"
    assert vtac(["catalog", "ingest", "SDSS12", str(SDSS_FILE), "--into", str(store), *engine]) == 0
    assert vtac(["catalog", "ingest", "SDSS12", str(csv), "--into", str(store), *engine]) == 0
    out = capsys.readouterr().out
    assert "15083 rows in" in out.splitlines()[-1] and "15083 duplicate rows dropped" in out
    import lsdb

    rows = lsdb.open_catalog(store / "SDSS12").compute()
    assert len(rows) == 15083 and rows["ID"].nunique() == 15083
    assert all(
        part[0]["_healpix_29"] == sorted(part[0]["_healpix_29"])
        for part in partition_rows(store / "SDSS12").values()
    )
    # the same file a third time: skipped by content, nothing rebuilt
    assert vtac(["catalog", "ingest", "SDSS12", str(csv), "--into", str(store)]) == 0
    assert "0 files added, 15083 rows" in capsys.readouterr().out
    assert set(json.loads((store / "SDSS12" / "vtac_ingested.json").read_text())) == {
        __import__("vtac.adapters.hats_ingest", fromlist=["file_digest"]).file_digest(path)
        for path in (SDSS_FILE, csv)
    }


@pytest.mark.parametrize("dask", [False, True], ids=["in-memory", "dask"])
def test_a_source_keeps_the_row_ingested_first(tmp_path, dask):
    table = Table.read(SDSS_FILE)[:500]
    table.write(tmp_path / "first.fits")
    table["rmag"] += 1.0  # the same sources, other magnitudes
    table.write(tmp_path / "later.csv", format="ascii.csv")
    for name in ("first.fits", "later.csv"):
        ingest_hats("SDSS12", [tmp_path / name], tmp_path / "store", pixel_threshold=1500, dask=dask)
    rows = open_hats(str(tmp_path / "store" / "SDSS12")).cone("SDSS12", Cone(215.6, 53.1, 2.0)).table
    first = read_catalog_file("SDSS12", tmp_path / "first.fits").table
    assert rows is not None and first is not None
    assert len(rows) == 500
    np.testing.assert_array_equal(
        np.asarray(rows["MAG_r"])[np.argsort(rows["ID"])], np.asarray(first["MAG_r"])[np.argsort(first["ID"])]
    )


def test_make_qpo_vt_against_the_hats_catalogue_as_against_the_file(tmp_path, sdss_hats):
    """The one-off command gives the same candidates from the HATS copy as from the catalogue file."""
    case = find_case("GRB 250419A")
    ra, dec = DEMO_CENTRE[0] + 0.1, DEMO_CENTRE[1] - 0.1
    spec = BurstSpec(
        ra=ra,
        dec=dec,
        burst_id="sb26050905",
        half_width_arcmin=5.0,
        afterglow=case.afterglow(ra, dec),
        mxt_r90_arcsec=60.0,
    )
    paths = simulate_burst(load_demo_sky(), spec, np.random.default_rng(5)).write(tmp_path / "in")
    summaries = {}
    for label, source in (("file", SDSS_FILE), ("hats", sdss_hats / "SDSS12")):
        command = ["make-qpo-vt", "--srclist", str(paths["srclist_R"]), "--srclist", str(paths["srclist_B"])]
        command += ["--mxt", str(paths["mxt"]), "--catalog", f"SDSS12={source}"]
        assert vtac([*command, "--out", str(tmp_path / label)]) == 0
        summaries[label] = json.loads((tmp_path / label / "QPO_VT_sb26050905.json").read_text())
    hats, file = summaries["hats"], summaries["file"]
    assert [c["vt_id"] for c in hats["candidates"]] == [c["vt_id"] for c in file["candidates"]]
    assert hats["candidates"][0]["new_src"] and hats["best_candidates"] == file["best_candidates"]
    assert "HATS catalogue" in json.dumps(hats)


def test_outside_the_catalogues_own_coverage_is_not_covered(sdss_hats):
    catalog = str(sdss_hats / "SDSS12")
    far = HatsProvider(catalog).query("SDSS12", Cone(215.6, 58.0, 0.2), deadline=0.0)
    assert far.status is CatalogStatus.NOT_COVERED and far.table is None
    edge = HatsProvider(catalog).query("SDSS12", Cone(215.6, 53.6, 0.2), deadline=0.0)  # half off the box
    assert edge.status is CatalogStatus.OK and "partly outside" in edge.message
    assert edge.table is not None and len(edge.table) > 100 and (np.asarray(edge.table["DEC"]) <= 53.61).all()


def test_a_foreign_hats_catalogue_is_read_with_the_file_column_conventions(tmp_path):
    """A HATS mirror keeps the survey's own names (here VizieR's): read as a file of them would be."""
    import lsdb
    import pandas as pd

    table = Table.read(SDSS_FILE)[:3000]
    frame = pd.DataFrame(
        {name: np.asarray(table[name]).astype(table[name].dtype.newbyteorder("=")) for name in table.colnames}
    )
    lsdb.from_dataframe(frame, ra_column="RA_ICRS", dec_column="DE_ICRS", catalog_name="sdss").write_catalog(
        tmp_path / "mirror"
    )
    assert is_hats(str(tmp_path / "mirror"))
    provider = resolve_provider("SDSS12", str(tmp_path / "mirror"), RemoteSettings())
    answer = provider.query("SDSS12", Cone(215.6, 53.1, 0.5), deadline=0.0)
    assert answer.status is CatalogStatus.OK and answer.table is not None and 0 < len(answer.table) <= 3000
    assert {"ID", "RA", "DEC", "MAG_r", "CLASS"} <= set(answer.table.colnames)
    assert np.isfinite(answer.table["MAG_r"]).any()


def test_a_directory_that_is_not_hats_is_an_input_error_naming_it(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "properties").write_text("not=hats\n")
    with pytest.raises(InputError, match="broken"):
        open_hats(str(tmp_path / "broken"))


def test_a_ps1_mirror_with_mast_column_names_is_read(tmp_path):
    """The PS1 HATS mirrors keep MAST's names (raMean, gMeanPSFMag...): magnitudes and ids come through."""
    import lsdb
    import pandas as pd

    rng = np.random.default_rng(9)
    n = 2000
    frame = pd.DataFrame(
        {
            "objID": np.arange(n) + 10**17,
            "raMean": 150.0 + rng.uniform(-0.2, 0.2, n),
            "decMean": 30.0 + rng.uniform(-0.2, 0.2, n),
            **{f"{b}MeanPSFMag": rng.uniform(15, 22, n) for b in "grizy"},
            **{f"{b}MeanPSFMagErr": np.full(n, 0.03) for b in "grizy"},
            "nDetections": np.full(n, 12),
        }
    )
    lsdb.from_dataframe(frame, ra_column="raMean", dec_column="decMean", catalog_name="ps1").write_catalog(
        tmp_path / "ps1"
    )
    answer = HatsProvider(str(tmp_path / "ps1")).query("PS1DR1", Cone(150.0, 30.0, 0.1), deadline=0.0)
    assert answer.status is CatalogStatus.OK and answer.table is not None and len(answer.table) > 50
    assert np.isfinite(answer.table["MAG_r"]).all() and (answer.table["ERR_y"] == 0.03).all()
    assert "nDetections" not in answer.table.colnames and answer.table["ID"][0].startswith("1000")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda root: (root / "partition_info.csv").unlink(), "no partition_info.csv"),
        (lambda root: (root / "partition_info.csv").write_text("Norder,Npix\nx,1\n"), "bad partition line"),
        (lambda root: (root / "coverage.moc").write_text("not a MOC"), "unreadable MOC"),
        (
            lambda root: (root / "hats.properties").write_text("dataproduct_type=margin\n"),
            "not a catalogue of sources",
        ),
        (
            lambda root: (root / "collection.properties").write_text("obs_collection=x\n"),
            "hats_primary_table_url",
        ),
    ],
    ids=["no-partitions", "bad-partition", "bad-moc", "margin-table", "collection-without-table"],
)
def test_a_damaged_catalogue_is_an_input_error_naming_the_file(sdss_hats, tmp_path, damage, message):
    import shutil

    copy = tmp_path / "SDSS12"
    shutil.copytree(sdss_hats / "SDSS12", copy)
    damage(copy)
    with pytest.raises(InputError, match=message):
        HatsCatalog(str(copy))


def test_without_dataset_metadata_the_schema_comes_from_a_partition(sdss_hats, tmp_path):
    import shutil

    copy = tmp_path / "SDSS12"
    shutil.copytree(sdss_hats / "SDSS12", copy)
    for name in ("_common_metadata", "_metadata"):
        (copy / "dataset" / name).unlink()
    answer = HatsCatalog(str(copy)).cone("SDSS12", Cone(215.6, 53.1, 0.05))
    assert answer.status is CatalogStatus.OK and answer.table is not None and len(answer.table) > 10


def partition_rows(catalog):
    """Each partition's rows (every column, in file order) and row-group sizes, by (Norder, Npix)."""
    import pyarrow.parquet as pq

    return {
        (int(part.parent.parent.name.split("=")[1]), int(part.stem.split("=")[1])): (
            pq.read_table(part).to_pandas().to_dict("list"),
            [group["num_rows"] for group in pq.ParquetFile(part).metadata.to_dict()["row_groups"]],
        )
        for part in (catalog / "dataset").glob("Norder=*/Dir=*/Npix=*.parquet")
    }


def hats_import_catalog(inputs, out):
    """The catalogue hats-import writes from these files, with the ingest's partition and Parquet settings
    (the reference both engines are held to; no de-duplication)."""
    import pyarrow.parquet as pq
    from dask.distributed import Client
    from hats_import.catalog.arguments import ImportArguments
    from hats_import.pipeline import pipeline_with_client

    staged = []
    for path in inputs:
        staged.append(out / f"{path.stem}.parquet")
        pq.write_table(hats_ingest.read_rows("SDSS12", path).drop_columns(["_healpix_29"]), staged[-1])
    layout = hats_ingest.LAYOUT
    arguments = ImportArguments(
        output_path=out / "out",
        output_artifact_name="SDSS12",
        input_file_list=[str(path) for path in staged],
        file_reader="parquet",
        ra_column="RA",
        dec_column="DEC",
        pixel_threshold=1500,
        row_group_kwargs={"num_rows": layout.row_group_rows},
        write_table_kwargs=layout.write_table_kwargs(),
        tmp_dir=out / "tmp",
        progress_bar=False,
    )
    with Client(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as client:
        pipeline_with_client(arguments, client)
    return out / "out" / "SDSS12"


def test_both_engines_write_the_catalogue_hats_import_writes(tmp_path):
    """In memory and on Dask, the catalogue is partitioned as hats-import partitions it (same partitions,
    same rows in the same order in each, every column, the same row groups and point map), and hats
    validates all three strictly; only the builder named in the properties differs. Two inputs, half the
    field as FITS and the other half as CSV: each is sorted on its own and the two merged.
    """
    from hats.catalog.dataset.table_properties import TableProperties
    from hats.io.file_io import read_fits_image
    from hats.io.validation import is_valid_catalog

    table = Table.read(SDSS_FILE)
    inputs = [tmp_path / "even.fits", tmp_path / "odd.csv"]
    table[::2].write(inputs[0])
    table[1::2].write(inputs[1], format="ascii.csv")
    (tmp_path / "reference").mkdir()
    catalogs = {"hats-import": hats_import_catalog(inputs, tmp_path / "reference")}
    for engine, dask in (("memory", False), ("dask", True)):
        assert ingest_hats("SDSS12", inputs, tmp_path / engine, pixel_threshold=1500, dask=dask).rows == 15083
        catalogs[engine] = tmp_path / engine / "SDSS12"
    reference = partition_rows(catalogs["hats-import"])
    assert len(reference) > 8
    assert all(part["_healpix_29"] == sorted(part["_healpix_29"]) for part, _ in reference.values())
    point_map = read_fits_image(catalogs["hats-import"] / "point_map.fits")
    properties = TableProperties.read_from_dir(catalogs["hats-import"]).model_dump(by_alias=True)
    volatile = ("hats_builder", "hats_creation_date", "hats_estsize")
    for engine in ("memory", "dask"):
        assert is_valid_catalog(catalogs[engine], strict=True)
        rows = partition_rows(catalogs[engine])
        assert rows.keys() == reference.keys()
        for pixel, (columns, row_groups) in rows.items():
            assert columns.keys() == reference[pixel][0].keys() and row_groups == reference[pixel][1]
            for name, values in columns.items():
                np.testing.assert_array_equal(reference[pixel][0][name], values, err_msg=f"{pixel} {name}")
        assert (read_fits_image(catalogs[engine] / "point_map.fits") == point_map).all()
        ours = TableProperties.read_from_dir(catalogs[engine]).model_dump(by_alias=True)
        assert ours["hats_builder"].startswith("vtac v")
        assert {key: value for key, value in ours.items() if key not in volatile} == {
            key: value for key, value in properties.items() if key not in volatile
        }


class IngestBrokenOffError(Exception):
    """An ingest broken off (a worker killed, a full disk)."""


def test_an_interrupted_dask_ingest_resumes_where_it_stopped(tmp_path, monkeypatch):
    """Interrupted while writing the partitions, the ingest leaves the store as it was; run again, it reads
    no input again, writes only the partitions not yet written, and the catalogue is the one an
    uninterrupted ingest writes."""
    table = Table.read(SDSS_FILE)
    inputs = [tmp_path / "even.fits", tmp_path / "odd.csv"]
    table[::2].write(inputs[0])
    table[1::2].write(inputs[1], format="ascii.csv")
    ingest = partial(ingest_hats, "SDSS12", inputs, pixel_threshold=1500, workers=1, dask=True)
    whole_rows = ingest(tmp_path / "whole").rows
    calls = {"read_rows": 0, "write_partition": 0}

    def counted(name, function, fail_after=None):
        def call(*args, **kwargs):
            if calls[name] == fail_after:
                raise IngestBrokenOffError
            calls[name] += 1
            return function(*args, **kwargs)

        return call

    with monkeypatch.context() as patch:
        patch.setattr(hats_ingest, "write_partition", counted("write_partition", write_partition, 3))
        with pytest.raises(IngestBrokenOffError):
            ingest(tmp_path / "store")
    assert not (tmp_path / "store" / "SDSS12").exists() and calls["write_partition"] == 3
    calls["write_partition"] = 0
    monkeypatch.setattr(hats_ingest, "read_rows", counted("read_rows", hats_ingest.read_rows))
    monkeypatch.setattr(hats_ingest, "write_partition", counted("write_partition", write_partition))
    assert ingest(tmp_path / "store").rows == whole_rows
    import pyarrow.parquet as pq

    whole = sorted((tmp_path / "whole" / "SDSS12" / "dataset").glob("Norder=*/Dir=*/Npix=*.parquet"))
    assert calls == {"read_rows": 0, "write_partition": len(whole) - 3}
    for part in whole:
        resumed = tmp_path / "store" / "SDSS12" / part.relative_to(tmp_path / "whole" / "SDSS12")
        assert pq.read_table(resumed).equals(pq.read_table(part))
    assert not (tmp_path / "store" / ".SDSS12.ingest").exists()


@pytest.mark.parametrize("cells", [[3, 40, 41], list(range(100))], ids=["mostly-empty", "mostly-full"])
def test_the_point_map_has_the_bytes_hats_writes(tmp_path, cells):
    """hats writes a point map explicit (cells, counts) when most cells are empty, else whole; so do we."""
    from hats.io.file_io import write_fits_image

    from vtac.adapters.hats_build import write_point_map

    cells = np.array(cells)
    counts = np.arange(1, len(cells) + 1)
    histogram = np.zeros(12 * 4**2, dtype=np.int64)
    histogram[cells] = counts
    write_fits_image(histogram, tmp_path / "hats.fits")
    write_point_map(cells, counts, tmp_path / "ours.fits", order=2)
    assert (tmp_path / "ours.fits").read_bytes() == (tmp_path / "hats.fits").read_bytes()


def test_a_catalogue_too_big_for_memory_is_ingested_on_dask(tmp_path, monkeypatch):
    from hats.catalog.dataset.table_properties import TableProperties

    monkeypatch.setattr(hats_ingest, "IN_MEMORY_BYTES", SDSS_FILE.stat().st_size - 1)
    done = ingest_hats("SDSS12", [SDSS_FILE], tmp_path)
    assert done.rows == 15083
    assert "(Dask)" in TableProperties.read_from_dir(done.directory).model_dump()["hats_builder"]


def test_ids_are_the_same_text_whether_arrow_or_numpy_writes_them():
    for values in (
        np.array([1, -5, 10**17], dtype=">i8"),
        np.array([3, 4], dtype=np.uint32),
        np.ma.array([1, 2], mask=[False, True]),
        np.array([" 1234-0567890 ", "x"]),
    ):
        assert arrow_ids(values).to_pylist() == list(text_ids(values))


def test_ingest_into_a_foreign_hats_catalogue_is_an_input_error_naming_it(tmp_path):
    """Rows are added to a catalogue VTAC wrote; a survey's own HATS copy is read, not rebuilt."""
    import lsdb
    import pandas as pd

    frame = pd.DataFrame({"ra": [215.6, 215.7], "dec": [53.1, 53.2], "source_id": [1, 2]})
    lsdb.from_dataframe(frame, catalog_name="SDSS12").write_catalog(tmp_path / "SDSS12")
    with pytest.raises(InputError, match=r"SDSS12.*no vtac_ingested.json"):
        ingest_hats("SDSS12", [SDSS_FILE], tmp_path)


def test_ingest_on_a_dask_cluster_given_by_its_scheduler(tmp_path, monkeypatch):
    """Worker processes: the tasks travel to them (pickled), and the files named relative to the command's
    directory are found by workers running in another one."""
    import shutil

    from dask.distributed import LocalCluster

    shutil.copyfile(SDSS_FILE, tmp_path / "sdss.fits")
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        monkeypatch.chdir(tmp_path)  # the workers started in the directory the test began in
        done = ingest_hats("SDSS12", [Path("sdss.fits")], Path("store"), scheduler=cluster.scheduler_address)
    assert done.rows == 15083 and done.files_added == 1
    answer = open_hats(str(done.directory)).cone("SDSS12", Cone(215.6, 53.1, 0.05))
    assert answer.status is CatalogStatus.OK and answer.table is not None and len(answer.table) > 10


@pytest.mark.parametrize(
    ("ids", "kept"),
    [
        (["5", "3", "5", "7", "3"], [0, 1, 3]),  # integer ids: the first row of each
        (["007", "7", "8"], [0, 1, 2]),  # a leading zero is another id, not the integer 7
        (["-0", "0", "+1", "1"], [0, 1, 2, 3]),
        (["1234-0567890", "x", "x"], [0, 1]),  # text ids (USNO-B1's)
    ],
)
def test_one_row_per_id_whatever_the_ids_look_like(ids, kept):
    import pyarrow as pa

    table = pa.table({"ID": pa.chunked_array([ids[:2], ids[2:]]), "row": range(len(ids))})
    first = hats_ingest.first_rows(table.column("ID"))
    assert (list(range(len(ids))) if first is None else first.tolist()) == kept


def test_a_fetched_cone_without_rows_is_an_input_error_and_stores_nothing(tmp_path):
    from vtac.adapters.hats_ingest import add_fetched_cone

    empty = Table({"ID": np.array([], dtype=str), "RA": np.array([]), "DEC": np.array([])})
    with pytest.raises(InputError, match="no rows to ingest"):
        add_fetched_cone("SDSS12", empty, Cone(215.6, 53.1, 0.1), tmp_path)
    assert not (tmp_path / "SDSS12").exists()
