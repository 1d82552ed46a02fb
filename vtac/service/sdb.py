"""The science database (SDB): where the products of each version go, and where input products come from.

Two implementations behind one interface (:class:`Sdb`): :class:`HttpSdb`, the REST contract of
``docs/ICD.md``, and :class:`FileSdb`, a directory, the embedded default. Uploads are idempotent by design:
each product version has one address (burst, acronym, version) and one ``Idempotency-Key`` derived from it, so
a retry, a redelivery or a second instance finishing the same version never makes a second product; the SDB
answers 409 (or 200) and that counts as success. Transient failures (connection, timeout, the HTTP answers
:func:`vtac.retrying.is_transient_http_status` names) are retried under VTAC's one retry policy
(:mod:`vtac.retrying`: bounded attempts, full jitter, Retry-After honoured up to the backoff cap), then raise
TransientError so the caller can retry later; any other answer is permanent (:class:`SdbRejectedError`).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import SplitResult, quote, unquote, urlsplit, urlunsplit

import requests
import urllib3

from vtac.adapters.files import write_bytes_atomically
from vtac.app.version import JSON_MEDIA_TYPE, ProductFile
from vtac.errors import InputError, TransientError, VtacError
from vtac.redaction import redact
from vtac.retrying import (
    RetriesExhaustedError,
    RetryableError,
    RetryPolicy,
    call,
    is_transient_http_status,
    retry_after_seconds,
)
from vtac.settings import SdbSettings

log = logging.getLogger(__name__)

#: Media types of the extras (burst page, chart, light curves, VOEvent, notice, circular draft) by suffix.
EXTRAS_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".png": "image/png",
    ".xml": "application/xml",
    ".json": JSON_MEDIA_TYPE,
    ".txt": "text/plain; charset=utf-8",
}
ALREADY_STORED = 409
_DEFAULT_SETTINGS = SdbSettings()
_CHUNK = 64 * 1024
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


class SdbRejectedError(VtacError):
    """The SDB refused the request for good (4xx other than 408/409/429): retrying cannot help."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ProductBundle:
    """Everything stored for one version of one burst: its products (QPO_VT, QCANDI_VT, JSON summary) or
    its extras."""

    burst_id: str
    version: int
    files: tuple[ProductFile, ...]

    @classmethod
    def of_extras(cls, burst_id: str, version: int, files: dict[str, tuple[str, bytes]]) -> ProductBundle:
        """The extras of one version: acronym -> (file name, content); media type from the suffix."""
        return cls(
            burst_id,
            version,
            tuple(
                ProductFile(acronym, name, content, EXTRAS_MEDIA_TYPES[Path(name).suffix])
                for acronym, (name, content) in files.items()
            ),
        )


def idempotency_key(burst_id: str, acronym: str, version: int) -> str:
    """Same product version, same key, whichever instance or attempt sends it."""
    return f"vtac:{burst_id}:{acronym}:v{version}"


class Sdb(Protocol):
    """What the service needs from the SDB."""

    def upload(self, bundle: ProductBundle) -> dict[str, str]:
        """Store every file of the bundle (idempotently); their locations by acronym."""

    def fetch(self, url: str) -> bytes:
        """The content of an input product the SDB holds."""

    def location(self, burst_id: str, acronym: str, version: int, filename: str) -> str:
        """Where a file of a version will be once uploaded (announced before the extras exist)."""


class HttpSdb:
    """The SDB over HTTP (REST contract in ``docs/ICD.md``)."""

    def __init__(
        self,
        base_url: str,
        settings: SdbSettings = _DEFAULT_SETTINGS,
        *,
        token: str | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``settings`` bounds the calls; ``base_url`` and ``token`` are apart from it: the fetcher of inbound
        products at other locations has neither."""
        # Credentials in the base URL become HTTP basic auth: they must never reach a product location.
        self.base_url, self._basic = _without_credentials(base_url.rstrip("/"))
        self._token = token
        self._max_fetch_bytes = settings.max_fetch_bytes
        self._fetch_deadline_s = settings.fetch_deadline_s
        self._timeout = (settings.connect_timeout_s, settings.read_timeout_s)
        self._retry = RetryPolicy(
            attempts=settings.max_attempts, base_s=settings.backoff_s, cap_s=settings.backoff_cap_s
        )
        self._session = session or requests.Session()
        self._sleep = sleep

    def product_url(self, burst_id: str, acronym: str, version: int) -> str:
        """The address of one product version."""
        return (
            f"{self.base_url}/v1/bursts/{quote(burst_id, safe='')}/products/{quote(acronym, safe='')}"
            f"/versions/{version}"
        )

    def location(self, burst_id: str, acronym: str, version: int, filename: str) -> str:
        """The address a file is PUT to (and read from); the file name plays no part."""
        del filename
        return self.product_url(burst_id, acronym, version)

    def upload(self, bundle: ProductBundle) -> dict[str, str]:
        """PUT each file; 201, 200 (replay) and 409 (already there) all mean stored."""
        return {item.acronym: self._put(bundle, item) for item in bundle.files}

    def fetch(self, url: str) -> bytes:
        """GET an input product, with the same retries as uploads; no redirect is followed, and the answer
        is streamed under a size cap and a whole-answer deadline (a trickling server cannot hold us).
        """
        headers = self._auth({"Accept-Encoding": "identity"})
        response = self._request("GET", url, headers=headers, stream=True, allow_redirects=False)
        try:
            if response.is_redirect or 300 <= response.status_code < 400:
                raise SdbRejectedError(
                    f"GET {redact(url)}: HTTP {response.status_code}: redirect refused",
                    status=response.status_code,
                )
            if response.status_code != 200:
                raise SdbRejectedError(_describe("GET", url, response), status=response.status_code)
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self._max_fetch_bytes:
                raise InputError(
                    f"GET {redact(url)}: answer of {declared} bytes exceeds the limit "
                    f"max_fetch_bytes={self._max_fetch_bytes}"
                )
            return read_bounded(
                response, url, max_bytes=self._max_fetch_bytes, deadline_s=self._fetch_deadline_s
            )
        finally:
            response.close()

    def _put(self, bundle: ProductBundle, item: ProductFile) -> str:
        url = self.product_url(bundle.burst_id, item.acronym, bundle.version)
        headers = self._auth(
            {
                "Content-Type": item.media_type,
                "Content-Disposition": f'attachment; filename="{item.filename}"',
                "Idempotency-Key": idempotency_key(bundle.burst_id, item.acronym, bundle.version),
            }
        )
        response = self._request("PUT", url, headers=headers, data=item.content)
        if response.status_code not in (200, 201, ALREADY_STORED):
            raise SdbRejectedError(_describe("PUT", url, response), status=response.status_code)
        if response.status_code == ALREADY_STORED:
            log.info("SDB already holds %s v%d of %s", item.acronym, bundle.version, bundle.burst_id)
        return redact(_location(response, url))

    def _auth(self, headers: dict[str, str]) -> dict[str, str]:
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        elif self._basic is not None:
            headers["Authorization"] = requests.auth._basic_auth_str(*self._basic)  # pylint: disable=protected-access
        return headers

    def _request(self, method: str, url: str, **kwargs: object) -> requests.Response:
        """One call with bounded retries; the last transient failure becomes a TransientError."""

        def attempt() -> requests.Response:
            try:
                response = self._session.request(method, url, timeout=self._timeout, **kwargs)  # type: ignore[arg-type]
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise RetryableError(redact(f"{method} {url}: {type(exc).__name__}: {exc}")) from None
            if not is_transient_http_status(response.status_code):
                return response
            response.close()
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            raise RetryableError(_describe(method, url, response), wait)

        def report(failure: RetryableError, number: int, wait_s: float) -> None:
            attempts = self._retry.attempts
            log.warning("SDB attempt %d/%d failed (%s); retry in %.2f s", number, attempts, failure, wait_s)

        try:
            return call(attempt, self._retry, sleep=self._sleep, on_retry=report)
        except RetriesExhaustedError as ended:
            if ended.refused_wait_s is not None:
                problem = f"Retry-After {ended.refused_wait_s:.0f} s is longer than the backoff cap"
                raise TransientError(f"SDB unavailable: {ended.reason}; {problem}") from None
            raise TransientError(f"SDB unavailable after {ended.attempts} attempts: {ended.reason}") from None


def _describe(method: str, url: str, response: requests.Response) -> str:
    """Method, URL (redacted) and status only: a body could carry anything from an internal server."""
    return f"{method} {redact(url)}: HTTP {response.status_code} {response.reason}"


def _without_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """The URL without its user-info, and the (user, password) it held."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean, (unquote(parts.username or ""), unquote(parts.password or ""))


def read_bounded(response: requests.Response, url: str, *, max_bytes: int, deadline_s: float) -> bytes:
    """The body of a streamed response, refused beyond ``max_bytes`` or ``deadline_s`` seconds in all.

    The reading happens on a helper thread the caller waits for at most ``deadline_s``: a server that sends a
    byte every few seconds (never tripping the read timeout) is abandoned at the deadline, and the helper
    stops at its next chunk.
    """
    outcome: dict[str, Any] = {}
    cancelled = threading.Event()

    def pump() -> None:
        chunks: list[bytes] = []
        total = 0
        try:
            while not cancelled.is_set():
                chunk = response.raw.read1(_CHUNK, decode_content=False)
                if not chunk:
                    outcome["body"] = b"".join(chunks)
                    return
                total += len(chunk)
                if total > max_bytes:
                    outcome["error"] = InputError(
                        f"GET {redact(url)}: answer exceeds the limit max_fetch_bytes={max_bytes}"
                    )
                    return
                chunks.append(chunk)
        except (OSError, requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            outcome["error"] = TransientError(redact(f"GET {url}: reading the answer failed: {exc!r}"))

    reader = threading.Thread(target=pump, name="vtac-fetch", daemon=True)
    reader.start()
    reader.join(deadline_s)
    if reader.is_alive():
        cancelled.set()
        raise TransientError(
            f"GET {redact(url)}: answer not complete within the limit fetch_deadline_s={deadline_s:g}"
        )
    if "error" in outcome:
        raise outcome["error"]
    return bytes(outcome["body"])


def check_fetch_url(url: str, allowed: Sequence[str]) -> None:
    """InputError unless ``url`` is http(s), without credentials, under one of the ``allowed`` base URLs
    (same scheme, host and port, path below the base path) and without dot segments: a message must not
    make the service fetch from a metadata address, localhost or an internal port (SSRF).
    """
    parts = urlsplit(url)
    shown = redact(url)
    if parts.scheme not in ("http", "https"):
        raise InputError(f"sdb_url {shown}: only http(s) URLs are fetched", column="sdb_url")
    if parts.username is not None or parts.password is not None:
        raise InputError(f"sdb_url {shown}: credentials in the URL are refused", column="sdb_url")
    if any(segment in (".", "..") for segment in unquote(parts.path).split("/")):
        raise InputError(f"sdb_url {shown}: dot segments in the path are refused", column="sdb_url")
    if not allowed:
        raise InputError(
            "sdb_url inputs need an allowed SDB base URL (settings sdb_fetch_urls or sdb_url)",
            column="sdb_url",
        )
    for base in allowed:
        if _under(parts, urlsplit(base.rstrip("/"))):
            return
    raise InputError(f"sdb_url {shown}: not under an allowed SDB base URL (sdb_fetch_urls)", column="sdb_url")


def _under(parts: SplitResult, base: SplitResult) -> bool:
    def port(item: SplitResult) -> int | None:
        return item.port or {"http": 80, "https": 443}.get(item.scheme)

    same_origin = (parts.scheme, (parts.hostname or "").lower(), port(parts)) == (
        base.scheme,
        (base.hostname or "").lower(),
        port(base),
    )
    return same_origin and (
        not base.path or parts.path == base.path or parts.path.startswith(base.path + "/")
    )


def _location(response: requests.Response, request_url: str) -> str:
    """Where the SDB says the product is: JSON ``url``, else ``Location``, else the address we used."""
    if response.headers.get("Content-Type", "").startswith(JSON_MEDIA_TYPE):
        try:
            url = response.json().get("url")
        except (ValueError, AttributeError):
            url = None
        if isinstance(url, str) and url:
            return url
    return response.headers.get("Location") or request_url


class FileSdb:
    """The SDB as a directory: ``ROOT/<burst_id>/<acronym>/v<version>/<filename>``, first writer wins."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def location(self, burst_id: str, acronym: str, version: int, filename: str) -> str:
        """``file://ROOT/<burst_id>/<acronym>/v<version>/<filename>``."""
        return (self.root / burst_id / acronym / f"v{version}" / filename).resolve().as_uri()

    def upload(self, bundle: ProductBundle) -> dict[str, str]:
        """Write each file atomically; a version already stored is left as it is (idempotent)."""
        return {item.acronym: self._store(bundle, item).as_uri() for item in bundle.files}

    def fetch(self, url: str) -> bytes:
        """Read a ``file://`` URL or a path."""
        parts = urlsplit(url)
        if parts.scheme not in ("", "file"):
            raise SdbRejectedError(f"{url}: the file SDB reads file:// URLs and paths only")
        path = Path(unquote(parts.path)) if parts.scheme else Path(url)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise InputError("product not found in the SDB", file=str(path)) from None

    def _store(self, bundle: ProductBundle, item: ProductFile) -> Path:
        for label, value in (
            ("burst_id", bundle.burst_id),
            ("acronym", item.acronym),
            ("filename", item.filename),
        ):
            if not _SAFE_NAME.match(value) or value in (".", ".."):
                raise InputError(f"unsafe name {value!r} for the file SDB", column=label)
        folder = self.root / bundle.burst_id / item.acronym / f"v{bundle.version}"
        folder.mkdir(parents=True, exist_ok=True)
        target = (folder / item.filename).resolve()
        try:  # readable by the group, as the SDB's other readers expect; a second writer loses the race
            write_bytes_atomically(target, item.content, overwrite=False)
        except FileExistsError:
            log.info("file SDB already holds %s", target)
        return target
