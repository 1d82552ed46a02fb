"""HATS catalogues: written by ``vtac catalog ingest`` (in memory or hats-import), read by cone."""

import json

import numpy as np
import pytest
from astropy.table import Table

from vtac.adapters import hats_ingest
from vtac.adapters.catalog_file import read_catalog_file, text_ids
from vtac.adapters.hats_catalog import HatsCatalog, HatsProvider, is_hats, open_hats
from vtac.adapters.hats_ingest import arrow_ids, deduplicate, ingest_hats
from vtac.adapters.providers import RemoteSettings, resolve_provider
from vtac.core.coverage import Cone
from vtac.core.records import CatalogStatus
from vtac.entrypoints.cli import main as vtac
from vtac.errors import InputError
from vtac.simulation.burst import BurstSpec, simulate_burst
from vtac.simulation.sky import DEMO_CENTRE, data_path, find_case, load_demo_sky

pytestmark = pytest.mark.slow

SDSS_FILE = data_path("sdss12_egs_1deg.fits")


@pytest.fixture(scope="module")
def sdss_hats(tmp_path_factory):
    """The packaged SDSS field ingested to HATS once with hats-import (``--dask``, the engine of catalogues
    beyond memory; the in-memory engine writes the same catalogue, as a test below checks).
    """
    root = tmp_path_factory.mktemp("hats")
    assert vtac(["catalog", "ingest", "SDSS12", str(SDSS_FILE), "--into", str(root), "--dask"]) == 0
    return root


def test_ingest_writes_a_real_hats_catalogue_that_lsdb_opens(sdss_hats):
    import lsdb
    from hats.catalog.dataset.table_properties import TableProperties

    assert TableProperties.read_from_dir(sdss_hats / "SDSS12").hats_builder.startswith("hats-import v")

    catalog = lsdb.open_catalog(sdss_hats / "SDSS12")
    rows = catalog.compute()
    assert len(rows) == 15083 and rows["ID"].nunique() == 15083
    assert {"RA", "DEC", "MAG_r", "ERR_r", "CLASS"} <= set(rows.columns)
    cone = catalog.cone_search(215.6, 53.1, 300.0).compute()
    ours = open_hats(str(sdss_hats / "SDSS12")).cone("SDSS12", Cone(215.6, 53.1, 300.0 / 3600.0))
    assert ours.status is CatalogStatus.OK and sorted(ours.table["ID"]) == sorted(cone["ID"].astype(str))


@pytest.mark.parametrize("engine", [[], ["--dask"]], ids=["in-memory", "hats-import"])
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


@pytest.mark.parametrize("dask", [False, True], ids=["in-memory", "hats-import"])
def test_a_source_keeps_the_row_ingested_first(tmp_path, dask):
    table = Table.read(SDSS_FILE)[:500]
    table.write(tmp_path / "first.fits")
    table["rmag"] += 1.0  # the same sources, other magnitudes
    table.write(tmp_path / "later.csv", format="ascii.csv")
    for name in ("first.fits", "later.csv"):
        ingest_hats("SDSS12", [tmp_path / name], tmp_path / "store", pixel_threshold=1500, dask=dask)
    rows = open_hats(str(tmp_path / "store" / "SDSS12")).cone("SDSS12", Cone(215.6, 53.1, 2.0)).table
    first = read_catalog_file("SDSS12", tmp_path / "first.fits").table
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
    assert len(edge.table) > 100 and (np.asarray(edge.table["DEC"]) <= 53.61).all()


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
    assert answer.status is CatalogStatus.OK and 0 < len(answer.table) <= 3000
    assert {"ID", "RA", "DEC", "MAG_r", "CLASS"} <= set(answer.table.colnames)
    assert np.isfinite(answer.table["MAG_r"]).any()


def test_a_directory_that_is_not_hats_is_an_input_error_naming_it(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "properties").write_text("not=hats\n")
    with pytest.raises(InputError, match="broken"):
        open_hats(str(tmp_path / "broken"))


def test_deduplicate_keeps_one_row_per_id(sdss_hats, tmp_path):
    import shutil

    copy = tmp_path / "SDSS12"
    shutil.copytree(sdss_hats / "SDSS12", copy)
    assert deduplicate(copy) == 0


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
    assert answer.status is CatalogStatus.OK and len(answer.table) > 50
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
    assert answer.status is CatalogStatus.OK and len(answer.table) > 10


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


def test_in_memory_the_catalogue_is_the_one_hats_import_writes(tmp_path):
    """The in-memory ingest partitions like hats-import (same partitions, same rows in the same order in
    each, every column), and hats validates both strictly; only the builder named in the properties
    differs. Two inputs, half the field as FITS and the other half as CSV: each is sorted on its own and
    the two merged.
    """
    from hats.catalog.dataset.table_properties import TableProperties
    from hats.io.file_io import read_fits_image
    from hats.io.validation import is_valid_catalog

    table = Table.read(SDSS_FILE)
    inputs = [tmp_path / "even.fits", tmp_path / "odd.csv"]
    table[::2].write(inputs[0])
    table[1::2].write(inputs[1], format="ascii.csv")
    catalogs = {}
    for engine, dask in (("memory", False), ("dask", True)):
        assert ingest_hats("SDSS12", inputs, tmp_path / engine, pixel_threshold=1500, dask=dask).rows == 15083
        catalogs[engine] = tmp_path / engine / "SDSS12"
    memory, dask = catalogs["memory"], catalogs["dask"]
    assert is_valid_catalog(memory, strict=True) and is_valid_catalog(dask, strict=True)
    rows = partition_rows(memory)
    assert rows.keys() == partition_rows(dask).keys() and len(rows) > 8
    for pixel, (columns, row_groups) in partition_rows(dask).items():
        assert columns.keys() == rows[pixel][0].keys() and row_groups == rows[pixel][1]
        for name, values in columns.items():
            np.testing.assert_array_equal(rows[pixel][0][name], values, err_msg=f"{pixel} {name}")
    assert all(part["_healpix_29"] == sorted(part["_healpix_29"]) for part, _ in rows.values())
    assert (read_fits_image(memory / "point_map.fits") == read_fits_image(dask / "point_map.fits")).all()
    properties = {
        engine: TableProperties.read_from_dir(path).model_dump(by_alias=True)
        for engine, path in catalogs.items()
    }
    assert properties["memory"]["hats_builder"].startswith("vtac v")
    assert properties["dask"]["hats_builder"].startswith("hats-import v")
    volatile = ("hats_builder", "hats_creation_date", "hats_estsize")
    assert {key: value for key, value in properties["memory"].items() if key not in volatile} == {
        key: value for key, value in properties["dask"].items() if key not in volatile
    }


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


def test_a_catalogue_too_big_for_memory_is_ingested_with_hats_import(tmp_path, monkeypatch):
    from hats.catalog.dataset.table_properties import TableProperties

    monkeypatch.setattr(hats_ingest, "IN_MEMORY_BYTES", SDSS_FILE.stat().st_size - 1)
    done = ingest_hats("SDSS12", [SDSS_FILE], tmp_path)
    assert done.rows == 15083
    assert TableProperties.read_from_dir(done.directory).hats_builder.startswith("hats-import v")


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


def test_ingest_on_a_dask_cluster_given_by_its_scheduler(tmp_path):
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        done = ingest_hats("SDSS12", [SDSS_FILE], tmp_path, scheduler=cluster.scheduler_address)
    assert done.rows == 15083 and done.files_added == 1
    answer = open_hats(str(done.directory)).cone("SDSS12", Cone(215.6, 53.1, 0.05))
    assert answer.status is CatalogStatus.OK and len(answer.table) > 10


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
    rows, dropped = hats_ingest.first_row_per_id(table)
    assert rows["row"].to_pylist() == kept and dropped == len(ids) - len(kept)


def test_a_fetched_cone_without_rows_is_an_input_error_and_stores_nothing(tmp_path):
    from vtac.adapters.hats_ingest import add_fetched_cone

    empty = Table({"ID": np.array([], dtype=str), "RA": np.array([]), "DEC": np.array([])})
    with pytest.raises(InputError, match="no rows to ingest"):
        add_fetched_cone("SDSS12", empty, Cone(215.6, 53.1, 0.1), tmp_path)
    assert not (tmp_path / "SDSS12").exists()
