"""The burst page of the cases a Burst Advocate meets at 3 a.m., rendered in headless Chromium: no X-ray
circle, a circle outside the VT field, every catalogue failed, a dark burst. Screenshots go to
``test-output/`` (``VTAC_TEST_OUTPUT``) to be looked at."""

from __future__ import annotations

import re

import numpy as np
import pytest
from browser import OUTPUT, browse, console_messages
from extras_cases import run_case
from matplotlib.image import imread

pytestmark = pytest.mark.chromium

CASES = ("no-circle", "off-field", "unverified", "dark")


@pytest.fixture(scope="module", params=CASES)
def case(request, tmp_path_factory):
    run, extras = run_case(tmp_path_factory.mktemp(request.param), request.param)
    return request.param, run, extras


def visible_text(html: str) -> str:
    body = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", body).split())


@pytest.mark.slow
def test_each_case_renders_and_says_what_a_ba_must_know(case, tmp_path):
    name, run, extras = case
    dom = browse(extras.page, tmp_path, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert console_messages(dom.stderr) == []
    text = visible_text(dom.stdout)
    assert "P(none)" in text
    ebv = run.summary["galactic_ebv"]  # the EGS field, famously clear of dust
    assert ebv < 0.03 and f"Galactic E(B-V) = {ebv:.3f} mag" in text
    if name == "no-circle":
        assert "No X-ray position" in text
        assert run.summary["best_candidates"]
        assert all(label in text for label in ("Aladin", "Legacy Survey", "PS1", "SIMBAD", "NED"))
        assert "uncatalogued" in text
    if name == "off-field":
        first = visible_text(dom.stdout.split('id="off-field"', 1)[1].split("</p>", 1)[0])
        assert dom.stdout.index('id="off-field"') < dom.stdout.index('id="title"')  # the first line
        assert "ECLAIRs circle lies OUTSIDE the VT field" in first
        assert "MXT" not in text.replace("QPO_MXT", "")
        assert "VT did not observe the ECLAIRs circle" in text
        assert "upper limit" not in text.split("GCN circular draft")[1].replace("no upper limit", "")
    if name == "unverified":
        assert "UNVERIFIED" in text
        assert "unverified" in text  # the candidates' catalogue column
    if name == "dark":
        assert "No candidate: no VT source inside the MXT circle" in text
        assert "T0 unknown (times since the first VT stack)" in text
        assert "VT stacks searched" in text
    OUTPUT.mkdir(parents=True, exist_ok=True)
    screenshot = OUTPUT / f"burst_page_{name}.png"
    screenshot.unlink(missing_ok=True)
    shot = browse(extras.page, tmp_path, "--window-size=1280,2000", f"--screenshot={screenshot}")
    assert shot.returncode == 0, shot.stderr[-2000:]
    image = imread(screenshot)
    assert image.shape[1] == 1280
    assert float(np.std(image[..., :3])) > 0.05
    (OUTPUT / f"chart_{name}.png").write_bytes(extras.chart.read_bytes())
