"""SDB clients: a retried or repeated upload stores one product; outages are transient, refusals not."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from vtac.app.version import FITS_MEDIA_TYPE, JSON_MEDIA_TYPE, ProductFile
from vtac.errors import InputError, TransientError
from vtac.service.sdb import (
    FileSdb,
    HttpSdb,
    ProductBundle,
    SdbRejectedError,
    idempotency_key,
)
from vtac.settings import SdbSettings

PRODUCT_PATH = re.compile(
    r"^/v1/bursts/(?P<burst>[^/]+)/products/(?P<acronym>[^/]+)/versions/(?P<version>\d+)$"
)


class SdbServer:
    """A small but real SDB following docs/ICD.md: stores each version once, answers 409 to a repeat."""

    def __init__(self, failures_before_success: int = 0) -> None:
        self.products: dict[str, bytes] = {}
        self.keys: dict[str, str] = {}
        self.failures_left: dict[str, int] = {}
        self.failures_before_success = failures_before_success

    def __call__(self, request: Request) -> Response:
        if not PRODUCT_PATH.match(request.path):
            return Response("no such resource", status=404)
        if request.method == "GET":
            return self._get(request.path)
        if request.headers.get("Authorization") != "Bearer s3cret":
            return Response("bad token", status=401)
        left = self.failures_left.setdefault(request.path, self.failures_before_success)
        if left:
            self.failures_left[request.path] = left - 1
            return Response("database hiccup", status=500)
        if request.path in self.products:
            return Response(
                json.dumps({"url": self._url(request)}), status=409, content_type="application/json"
            )
        self.products[request.path] = request.get_data()
        self.keys[request.path] = request.headers["Idempotency-Key"]
        return Response(json.dumps({"url": self._url(request)}), status=201, content_type="application/json")

    def _get(self, path: str) -> Response:
        if path not in self.products:
            return Response("not found", status=404)
        return Response(self.products[path], status=200, content_type=FITS_MEDIA_TYPE)

    @staticmethod
    def _url(request: Request) -> str:
        return f"https://sdb.example/files{request.path}"


def _bundle(version: int = 1, content: bytes = b"SIMPLE  =                    T") -> ProductBundle:
    return ProductBundle(
        "sb25010101",
        version,
        (
            ProductFile("QPO_VT", "QPO_VT_sb25010101.fits", content, FITS_MEDIA_TYPE),
            ProductFile("QCANDI_VT", "QCANDI_VT_sb25010101.fits", content + b"C", FITS_MEDIA_TYPE),
            ProductFile(
                "QPO_VT_SUMMARY", "QPO_VT_sb25010101.json", b'{"burst_id": "sb25010101"}', "application/json"
            ),
        ),
    )


def _client(server: HTTPServer, delays: list[float] | None = None, **settings) -> HttpSdb:
    sleep = delays.append if delays is not None else time.sleep
    settings.setdefault("backoff_s", 0.01)
    return HttpSdb(server.url_for("/"), SdbSettings(**settings), token="s3cret", sleep=sleep)


def test_upload_stores_every_product_under_its_version(httpserver: HTTPServer):
    sdb_server = SdbServer()
    httpserver.expect_request(PRODUCT_PATH).respond_with_handler(sdb_server)

    locations = _client(httpserver).upload(_bundle(version=3))

    assert sorted(locations) == ["QCANDI_VT", "QPO_VT", "QPO_VT_SUMMARY"]
    assert locations["QPO_VT"] == "https://sdb.example/files/v1/bursts/sb25010101/products/QPO_VT/versions/3"
    assert set(sdb_server.keys.values()) == {
        idempotency_key("sb25010101", acronym, 3) for acronym in ("QPO_VT", "QCANDI_VT", "QPO_VT_SUMMARY")
    }
    request = httpserver.log[0][0]
    assert request.headers["Content-Type"] == FITS_MEDIA_TYPE
    assert "QPO_VT_sb25010101.fits" in request.headers["Content-Disposition"]


def test_500_then_201_stores_one_product_each(httpserver: HTTPServer):
    sdb_server = SdbServer(failures_before_success=1)
    httpserver.expect_request(PRODUCT_PATH).respond_with_handler(sdb_server)
    delays: list[float] = []

    _client(httpserver, delays).upload(_bundle())

    assert len(sdb_server.products) == 3
    assert len(httpserver.log) == 6
    assert len(delays) == 3


def test_repeated_upload_is_accepted_and_stores_nothing_new(httpserver: HTTPServer):
    sdb_server = SdbServer()
    httpserver.expect_request(PRODUCT_PATH).respond_with_handler(sdb_server)
    client = _client(httpserver)
    first = client.upload(_bundle())

    again = client.upload(_bundle(content=b"same version, rebuilt by another instance"))

    assert again == first
    assert [response.status_code for _, response in httpserver.log[3:]] == [409, 409, 409]
    assert sdb_server.products["/v1/bursts/sb25010101/products/QPO_VT/versions/1"].startswith(b"SIMPLE")


def test_409_without_body_points_at_the_product_address(httpserver: HTTPServer):
    httpserver.expect_request(PRODUCT_PATH).respond_with_data("duplicate idempotency key", status=409)
    client = _client(httpserver)
    locations = client.upload(_bundle(version=2))
    assert locations["QCANDI_VT"] == client.product_url("sb25010101", "QCANDI_VT", 2)


@pytest.mark.parametrize("body", ["[1, 2]", "{not json", '{"url": ""}'])
def test_unusable_json_body_falls_back_to_the_location_header(httpserver: HTTPServer, body: str):
    httpserver.expect_request(PRODUCT_PATH).respond_with_data(
        body, status=201, content_type="application/json", headers={"Location": "https://sdb.example/p/1"}
    )
    assert set(_client(httpserver).upload(_bundle()).values()) == {"https://sdb.example/p/1"}


def test_at_least_one_attempt_is_required():
    with pytest.raises(ValueError, match="max_attempts"):
        HttpSdb("http://sdb.example", SdbSettings(max_attempts=0))


def test_400_is_a_permanent_error_without_retry(httpserver: HTTPServer):
    httpserver.expect_request(PRODUCT_PATH).respond_with_data("burst_id unknown to the SDB", status=400)
    with pytest.raises(SdbRejectedError, match=r"HTTP 400 BAD REQUEST$") as caught:
        _client(httpserver).upload(_bundle())
    assert "unknown" not in str(caught.value)  # no body text of a failed call in a reason (issue 9)
    assert caught.value.status == 400
    assert not caught.value.retriable
    assert len(httpserver.log) == 1


def test_wrong_token_is_permanent_and_the_token_is_not_in_the_message(httpserver: HTTPServer):
    httpserver.expect_request(PRODUCT_PATH).respond_with_handler(SdbServer())
    client = HttpSdb(httpserver.url_for("/"), token="wrong-token")
    with pytest.raises(SdbRejectedError, match="HTTP 401") as caught:
        client.upload(_bundle())
    assert "wrong-token" not in str(caught.value)


def test_persistent_503_becomes_transient_after_the_bounded_retries(httpserver: HTTPServer):
    httpserver.expect_request(PRODUCT_PATH).respond_with_data("maintenance", status=503)
    delays: list[float] = []
    with pytest.raises(TransientError, match=r"after 4 attempts.*HTTP 503") as caught:
        _client(httpserver, delays, backoff_s=1.0, backoff_cap_s=3.0).upload(_bundle())
    assert caught.value.retriable
    assert len(httpserver.log) == 4
    assert len(delays) == 3 and all(
        0.0 <= delay <= cap for delay, cap in zip(delays, (1.0, 2.0, 3.0), strict=True)
    )


def test_retry_after_of_the_sdb_is_honoured_up_to_the_backoff_cap(httpserver: HTTPServer):
    busy = Response("busy", status=503, headers={"Retry-After": "2"})
    httpserver.expect_ordered_request(PRODUCT_PATH).respond_with_response(busy)
    httpserver.expect_request(PRODUCT_PATH).respond_with_handler(SdbServer())
    delays: list[float] = []
    _client(httpserver, delays, backoff_s=0.01, backoff_cap_s=3.0).upload(_bundle())
    assert delays[0] >= 2.0  # what the SDB asked for, not the 0.01 s backoff


def test_retry_after_beyond_the_cap_hands_the_wait_to_the_broker(httpserver: HTTPServer):
    httpserver.expect_request(PRODUCT_PATH).respond_with_response(
        Response("maintenance", status=503, headers={"Retry-After": "3600"})
    )
    delays: list[float] = []
    with pytest.raises(TransientError, match=r"Retry-After 3600 s is longer than the backoff cap") as caught:
        _client(httpserver, delays, backoff_cap_s=8.0).upload(_bundle())
    assert caught.value.retriable and delays == [] and len(httpserver.log) == 1


def test_timeout_becomes_transient(httpserver: HTTPServer):
    def slow(_request: Request) -> Response:
        time.sleep(0.3)
        return Response("", status=201)

    httpserver.expect_request(PRODUCT_PATH).respond_with_handler(slow)
    client = _client(httpserver, [], connect_timeout_s=1.0, read_timeout_s=0.1, max_attempts=2)
    with pytest.raises(TransientError, match=r"after 2 attempts.*Timeout"):
        client.upload(_bundle())


def test_unreachable_sdb_becomes_transient():
    client = HttpSdb("http://127.0.0.1:1", SdbSettings(max_attempts=2), sleep=lambda _delay: None)
    with pytest.raises(TransientError, match="ConnectionError"):
        client.upload(_bundle())


def test_fetch_returns_a_stored_product_and_refuses_a_missing_one(httpserver: HTTPServer):
    sdb_server = SdbServer()
    httpserver.expect_request(PRODUCT_PATH).respond_with_handler(sdb_server)
    client = _client(httpserver)
    locations = client.upload(_bundle())
    url = client.product_url("sb25010101", "QPO_VT", 1)

    assert locations["QPO_VT"].endswith("/products/QPO_VT/versions/1")
    assert client.fetch(url).startswith(b"SIMPLE")
    with pytest.raises(SdbRejectedError, match="HTTP 404"):
        client.fetch(client.product_url("sb25010101", "QPO_VT", 9))


def test_file_sdb_keeps_the_first_copy_of_a_version(tmp_path: Path):
    sdb = FileSdb(tmp_path / "sdb")
    first = sdb.upload(_bundle())
    again = sdb.upload(_bundle(content=b"rebuilt"))

    assert again == first
    assert sdb.fetch(first["QPO_VT"]).startswith(b"SIMPLE")
    stored = sorted(path.relative_to(tmp_path / "sdb").as_posix() for path in (tmp_path / "sdb").rglob("*.*"))
    assert stored == [
        "sb25010101/QCANDI_VT/v1/QCANDI_VT_sb25010101.fits",
        "sb25010101/QPO_VT/v1/QPO_VT_sb25010101.fits",
        "sb25010101/QPO_VT_SUMMARY/v1/QPO_VT_sb25010101.json",
    ]


def test_file_sdb_stores_a_version_and_refuses_bad_requests(tmp_path: Path):
    bundle = ProductBundle(
        "sb1",
        2,
        (
            ProductFile("QPO_VT", "q.fits", b"q.fits", FITS_MEDIA_TYPE),
            ProductFile("QCANDI_VT", "c.fits", b"c.fits", FITS_MEDIA_TYPE),
            ProductFile("QPO_VT_SUMMARY", "s.json", b"s.json", JSON_MEDIA_TYPE),
        ),
    )
    sdb = FileSdb(tmp_path / "sdb")
    assert sdb.fetch(str(Path(sdb.upload(bundle)["QPO_VT_SUMMARY"].removeprefix("file://")))) == b"s.json"

    with pytest.raises(InputError, match="column burst_id: unsafe name"):
        sdb.upload(ProductBundle("../etc", 1, bundle.files))
    with pytest.raises(InputError, match="product not found"):
        sdb.fetch((tmp_path / "missing.fits").as_uri())
    with pytest.raises(SdbRejectedError, match="file:// URLs and paths only"):
        sdb.fetch("https://sdb.example/x")
