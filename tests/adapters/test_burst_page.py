"""Finding chart, light curves and the burst page; the page rendered in a real headless Chromium.

Chromium comes from Debian (``make system-deps``); without it the browser tests skip on a developer machine
and fail under CI. Screenshots go to ``test-output/`` (``VTAC_TEST_OUTPUT``).
"""

from __future__ import annotations

import copy
import io
import re
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from browser import OUTPUT, browse, console_messages
from extras_cases import SDSS, XSD, run_simulated
from lxml import etree
from matplotlib.image import imread
from results import make_result

from vtac.adapters.extras import ExtrasContext, VersionEntry, extras_names, write_extras
from vtac.adapters.extras.charts import finding_chart, light_curve
from vtac.adapters.extras.context import (
    BurstView,
    CandidateView,
    burst_view,
    nearest_neighbour,
    neighbour_text,
)
from vtac.adapters.summary import build_summary
from vtac.core.records import CatalogStatus
from vtac.entrypoints.cli import main as vtac
from vtac.provenance import CodeVersion

pytestmark = pytest.mark.chromium

SDSS_OPTION = f"{SDSS.name}={SDSS.source}"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HOSTILE = '<script>console.error("injected")</script><img src=x onerror="console.error(1)">'
CODE = CodeVersion("0", "unknown")


@pytest.fixture(scope="module")
def glow(tmp_path_factory):
    return run_simulated(tmp_path_factory.mktemp("glow"))


@pytest.fixture(scope="module")
def extras(glow):
    context = ExtrasContext(
        version=2,
        t0=glow.t0,
        simulated=True,
        links={"QPO_VT": f"QPO_VT_{glow.result.burst_id}.fits"},
        history=[VersionEntry(1, "2026-05-09T22:00:00", "first sequences only")],
    )
    return write_extras(glow.result, glow.summary, context, glow.out)


def best_of(view: BurstView) -> CandidateView:
    """The view's best candidate, which these bursts have."""
    assert view.best is not None
    return view.best


def pixels(png: bytes) -> np.ndarray:
    return imread(io.BytesIO(png), format="png")


# ------------------------------------------------------------------------------------------------- charts
def test_every_extra_is_written_beside_the_products(glow, extras):
    names = extras_names(glow.result.burst_id)
    best = glow.summary["best_candidates"]
    assert extras.page.name == names["page"]
    assert set(extras.light_curves) == set(best)
    for path in extras.all().values():
        assert path.parent == glow.out
        assert path.stat().st_size > 0
    assert etree.XMLSchema(etree.parse(str(XSD))).validate(etree.parse(str(extras.voevent)))


def test_finding_chart_is_a_grey_readable_png(glow):
    png = finding_chart(burst_view(glow.result, glow.summary, ExtrasContext(t0=glow.t0)))
    assert png.startswith(PNG_MAGIC)
    image = pixels(png)
    height, width = image.shape[:2]
    assert 600 < width < 1200 and 600 < height < 1200
    rgb = image[..., :3]
    # black and grey only: every pixel has (nearly) equal R, G and B, so nothing is lost printed in grey
    assert float(np.max(np.ptp(rgb, axis=2))) < 0.02
    assert float(np.mean(rgb < 0.2)) > 0.005  # there is ink: circle, markers, labels


def test_chart_differs_when_the_candidates_differ(glow):
    view = burst_view(glow.result, glow.summary, ExtrasContext())
    other = copy.deepcopy(glow.summary)
    other["candidates"] = []
    other["best_candidates"] = []
    assert finding_chart(view) != finding_chart(burst_view(glow.result, other, ExtrasContext()))


def test_light_curve_draws_detections_and_limits(glow):
    view = burst_view(glow.result, glow.summary, ExtrasContext(t0=glow.t0))
    png = light_curve(view, best_of(view))
    assert png.startswith(PNG_MAGIC)
    limited = copy.deepcopy(glow.summary)
    limited["candidates"][0]["magnitudes"]["B3"] = None  # now a limit in B3
    changed = burst_view(glow.result, limited, ExtrasContext(t0=glow.t0))
    assert light_curve(changed, best_of(changed)) != png


def test_charts_of_a_small_result_without_catalogue_positions_or_mxt():
    result = make_result(with_mxt=False, n_best=1)
    view = burst_view(result, build_summary(result, code=CODE).document(), ExtrasContext())
    assert finding_chart(view).startswith(PNG_MAGIC)
    assert light_curve(view, best_of(view)).startswith(PNG_MAGIC)


# --------------------------------------------------------------------------------------------------- page
def test_page_is_self_contained_and_shows_everything(glow, extras):
    html = extras.page.read_text(encoding="utf-8")
    assert "SIMULATED BURST" in html
    assert f"{glow.result.burst_id}: VT afterglow candidates" in html
    sources = re.findall(r'src="([^"]*)"', html)
    assert sources and all(src.startswith("data:image/png;base64,") for src in sources)
    assert "http://" not in html.replace("http://www.w3.org", "")
    best = glow.summary["candidates"][0]
    assert f"{best['ra']:.5f}" in html
    assert 'href="QPO_VT_sb26050905.fits"' in html
    assert f'href="{extras.voevent.name}"' in html
    assert "first sequences only" in html  # version history
    assert "GCN circular draft" in html
    assert "redshift hint" in html


def test_failed_and_uncovering_catalogues_are_shown_not_hidden():
    statuses = {
        "SDSS12": CatalogStatus.OK,
        "PS1DR1": CatalogStatus.FAILED,
        "LSDR10": CatalogStatus.NOT_COVERED,
    }
    result = make_result(statuses=statuses, n_best=1)
    html = _page(result, build_summary(result, code=CODE).document())
    assert '<td class="status-failed">FAILED</td>' in html
    assert '<td class="status-not_covered">NOT COVERED</td>' in html
    assert "HTTP 503 from the service" in html


def test_text_from_inputs_is_escaped():
    result = make_result(statuses={"PS1DR1": CatalogStatus.FAILED}, failure_message=HOSTILE, n_best=1)
    summary = build_summary(result, code=CODE).document()
    summary["candidates"][0]["reasons"] = [HOSTILE]
    html = _page(result, summary)
    assert "<script>" not in html
    assert "onerror=" not in html.replace("onerror=&#34;", "")
    assert "&lt;script&gt;" in html


def _page(result, summary) -> str:
    from vtac.adapters.extras.page import build_page

    view = burst_view(result, summary, ExtrasContext())
    return build_page(view, chart_png=None, light_curves={}, circular="draft", links={})


@pytest.mark.slow
def test_the_page_renders_in_chromium_without_console_errors(extras, tmp_path):
    dom = browse(extras.page, tmp_path, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert console_messages(dom.stderr) == []
    assert 'id="candidate-table"' in dom.stdout
    assert 'id="chart-image"' in dom.stdout
    OUTPUT.mkdir(parents=True, exist_ok=True)
    screenshot = OUTPUT / "burst_page.png"
    screenshot.unlink(missing_ok=True)
    shot = browse(extras.page, tmp_path, "--window-size=1280,2400", f"--screenshot={screenshot}")
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert console_messages(shot.stderr) == []
    image = imread(screenshot)
    assert image.shape[1] == 1280
    assert float(np.std(image[..., :3])) > 0.05  # a page, not a blank screen


@pytest.mark.slow
def test_the_browser_check_sees_a_console_error(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text('<html><body><script>console.error("boom")</script></body></html>', encoding="utf-8")
    run = browse(page, tmp_path, "--dump-dom")
    assert any("boom" in line for line in console_messages(run.stderr))


@pytest.mark.slow
def test_a_hostile_catalogue_message_does_not_run_in_the_browser(tmp_path):
    result = make_result(statuses={"PS1DR1": CatalogStatus.FAILED}, failure_message=HOSTILE, n_best=1)
    page = tmp_path / "hostile.html"
    page.write_text(_page(result, build_summary(result, code=CODE).document()), encoding="utf-8")
    run = browse(page, tmp_path, "--dump-dom")
    assert run.returncode == 0
    assert console_messages(run.stderr) == []
    assert "&lt;script&gt;" in run.stdout


# ---------------------------------------------------------------------------------------------- one-off
def _command(glow, out: Path, *extra: str) -> list[str]:
    inputs = glow.out.parent / "inputs"
    command = ["make-qpo-vt", "--catalog", SDSS_OPTION, "--out", str(out), *extra]
    for path in sorted(inputs.glob("QSRCLIST_VT_*.fits")):
        command += ["--srclist", str(path)]
    return [*command, "--mxt", str(next(inputs.glob("QPO_MXT_*.fits")))]


def test_the_one_off_command_writes_the_extras_beside_the_products(glow, tmp_path, capsys):
    out = tmp_path / "out"
    assert vtac(_command(glow, out, "--simulated", "--t0", glow.spec.t0)) == 0
    printed = capsys.readouterr().out
    burst_id = glow.result.burst_id
    page = out / f"QPO_VT_{burst_id}.html"
    assert printed.rstrip().endswith(f"burst page: {page}")
    for name in extras_names(burst_id).values():
        if "{vt_id}" not in name:
            assert (out / name).is_file(), name
    assert etree.parse(str(out / f"QPO_VT_{burst_id}_voevent.xml")).getroot().get("role") == "test"
    with fits.open(out / f"QPO_VT_{burst_id}.fits") as hdul:
        assert hdul[0].header["TT_ECL"].startswith(glow.spec.t0)
    html = page.read_text(encoding="utf-8")
    assert f'href="QPO_VT_{burst_id}.fits"' in html and f'href="QCANDI_VT_{burst_id}.fits"' in html


def test_no_extras_writes_only_the_products_and_a_real_burst_is_an_observation(glow, tmp_path, capsys):
    bare, real = tmp_path / "bare", tmp_path / "real"
    assert vtac(_command(glow, bare, "--no-extras")) == 0
    assert sorted(path.suffix for path in bare.iterdir()) == [".fits", ".fits", ".json"]
    assert vtac(_command(glow, real)) == 0
    burst_id = glow.result.burst_id
    assert etree.parse(str(real / f"QPO_VT_{burst_id}_voevent.xml")).getroot().get("role") == "observation"
    assert "T-first VT stack" in (real / f"QPO_VT_{burst_id}_circular.txt").read_text(encoding="utf-8")
    assert vtac(_command(glow, real, "--t0", "not-a-time")) == 2
    assert "--t0 'not-a-time'" in capsys.readouterr().err


def test_rendered_extras_come_back_as_named_contents(glow):
    from vtac.adapters.extras import render_extras

    files = render_extras(glow.result, glow.summary, ExtrasContext(version=3))
    names = extras_names(glow.result.burst_id)
    assert files["page"][0] == names["page"] and files["chart"][1].startswith(PNG_MAGIC)
    assert b"data:image/png;base64," in files["page"][1]
    assert b'ivorn="ivo://org.svom/fsc#sb26050905_vt-best-candidate-v3"' in files["voevent"][1]


def test_a_slim_result_draws_the_same_chart_and_is_much_smaller(glow):
    import pickle

    from vtac.adapters.extras import slim_result

    slim = slim_result(glow.result, glow.summary)
    assert len(pickle.dumps(slim)) < len(pickle.dumps(glow.result)) / 5
    context = ExtrasContext(t0=glow.t0)
    full_view, slim_view = (burst_view(r, glow.summary, context) for r in (glow.result, slim))
    assert finding_chart(slim_view) == finding_chart(full_view)


def test_the_nearest_catalogued_neighbour_and_its_magnitude(glow):
    view = burst_view(glow.result, glow.summary, ExtrasContext())
    sdss = next(answer.table for answer in glow.result.catalogs if answer.name == "SDSS12")
    row = sdss[int(np.argmin(sdss["MAG_r"]))]
    near = CandidateView({"ra": float(row["RA"]), "dec": float(row["DEC"]) + 2.0 / 3600}, [])
    found = nearest_neighbour(view, near)
    assert found is not None and found.catalog == "SDSS12" and found.band == "r"
    assert found.distance_arcsec <= 2.0 + 1e-3 and found.magnitude <= float(row["MAG_r"])
    assert neighbour_text(view, near).startswith(f'SDSS12 {found.distance_arcsec:.1f}" (r = ')
    far = CandidateView({"ra": float(row["RA"]), "dec": float(row["DEC"]) + 1.0}, [])
    assert neighbour_text(view, far) == 'none within 30"'
