"""The burst page's survey image: a hips2fits cutout of the chart's frame from a real HTTP server, cached, and
the catalogue chart alone when the service cannot be reached in time."""

from __future__ import annotations

import io

import pytest
from extras_cases import run_simulated
from PIL import Image
from werkzeug import Response

from vtac.adapters.extras import ExtrasContext, render_extras
from vtac.adapters.extras.context import chart_frame
from vtac.adapters.survey import SurveySettings, survey_image
from vtac.settings import load_settings


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (50, 50), (40, 60, 90)).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def glow(tmp_path_factory):
    return run_simulated(tmp_path_factory.mktemp("glow"))


def test_the_cutout_of_the_chart_frame_is_fetched_once_then_cached(httpserver, tmp_path):
    httpserver.expect_request("/hips2fits").respond_with_data(jpeg(), content_type="image/jpeg")
    settings = SurveySettings(httpserver.url_for("/hips2fits"), cache_dir=tmp_path / "cache")
    first = survey_image(settings, 215.6, 53.1, 90.0)
    assert first is not None and first.jpeg == jpeg() and "PanSTARRS" in first.caption
    (request, _), *_ = httpserver.log
    assert request.args["hips"] == "CDS/P/PanSTARRS/DR1/color-z-zg-g"
    assert (request.args["ra"], request.args["dec"], request.args["fov"]) == (
        "215.600000",
        "53.100000",
        "0.050000",
    )
    assert request.args["projection"] == "TAN" and request.args["format"] == "jpg"
    again = survey_image(settings, 215.6, 53.1, 90.0)
    assert again == first and len(httpserver.log) == 1  # from the cache


@pytest.mark.parametrize(
    "answer",
    [Response("busy", status=503), Response("<html>not an image</html>", content_type="text/html")],
    ids=["unavailable", "not-a-jpeg"],
)
def test_no_image_when_the_service_fails_and_nothing_is_cached(httpserver, tmp_path, answer):
    httpserver.expect_request("/hips2fits").respond_with_response(answer)
    settings = SurveySettings(httpserver.url_for("/hips2fits"), cache_dir=tmp_path / "cache", deadline_s=2.0)
    assert survey_image(settings, 215.6, 53.1, 90.0) is None
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


@pytest.mark.slow
def test_the_page_shows_the_survey_image_under_the_chart_or_says_there_is_none(glow, httpserver, tmp_path):
    httpserver.expect_request("/hips2fits").respond_with_data(jpeg(), content_type="image/jpeg")
    online = SurveySettings(httpserver.url_for("/hips2fits"), cache_dir=tmp_path / "cache")
    page = render_extras(glow.result, glow.summary, ExtrasContext(survey=online))["page"][1].decode()
    assert 'id="survey-image"' in page and "data:image/jpeg;base64," in page
    ra0, dec0, half_width = chart_frame(glow.summary, glow.result.combined)
    (request, _), *_ = httpserver.log
    assert float(request.args["ra"]) == pytest.approx(ra0, abs=1e-6)
    assert float(request.args["dec"]) == pytest.approx(dec0, abs=1e-6)
    assert float(request.args["fov"]) == pytest.approx(2 * half_width / 3600, abs=1e-6)

    offline = SurveySettings("http://survey.invalid/hips2fits", deadline_s=2.0)
    page = render_extras(glow.result, glow.summary, ExtrasContext(survey=offline))["page"][1].decode()
    assert 'id="survey-image"' not in page and 'id="no-survey"' in page and 'id="chart-image"' in page


def test_off_unless_configured(monkeypatch, tmp_path):
    monkeypatch.setenv("VTAC_STATE_DIR", str(tmp_path))
    assert load_settings().survey is None
    monkeypatch.setenv(
        "VTAC_EXTRAS__SURVEY_IMAGE_URL", "https://alasky.cds.unistra.fr/hips-image-services/hips2fits"
    )
    survey = load_settings().survey
    assert survey is not None and survey.cache_dir == tmp_path / "survey"
