"""A survey image of the chart's frame for the burst page: a CDS hips2fits cutout (Pan-STARRS colour).

Off unless configured (``VTAC_EXTRAS__SURVEY_IMAGE_URL``, e.g. :data:`DEFAULT_URL`): VTAC makes no call to the
outside world it was not told to. Fetched while the extras are drawn (in the service's extras worker, after
the notification went out), under a deadline, cached on disk by its URL; any failure (offline, slow,
refused) leaves the page with the catalogue chart alone, logged, never an error.

Outside :mod:`vtac.adapters.extras`: the settings hold a :class:`SurveySettings`, and importing them must not
load the extras (the one-off command with ``--no-extras`` never does).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from vtac.errors import TransientError

log = logging.getLogger(__name__)

DEFAULT_URL = "https://alasky.cds.unistra.fr/hips-image-services/hips2fits"
DEFAULT_HIPS = "CDS/P/PanSTARRS/DR1/color-z-zg-g"
PIXELS = 500
JPEG_MAGIC = b"\xff\xd8\xff"


@dataclass(frozen=True)
class SurveySettings:
    """Where to ask (empty ``url``: never), which HiPS, how long at most, where to cache."""

    url: str = ""
    hips: str = DEFAULT_HIPS
    deadline_s: float = 5.0
    cache_dir: Path | None = None


@dataclass(frozen=True)
class SurveyImage:
    """A JPEG of the chart's frame, north up and east left, and what it shows."""

    jpeg: bytes
    caption: str


def cutout_url(settings: SurveySettings, ra: float, dec: float, half_width_arcsec: float) -> str:
    """The hips2fits request of a square TAN cutout centred on (ra, dec), as wide as the chart."""
    query = {
        "hips": settings.hips,
        "ra": f"{ra:.6f}",
        "dec": f"{dec:.6f}",
        "fov": f"{2.0 * half_width_arcsec / 3600.0:.6f}",
        "width": str(PIXELS),
        "height": str(PIXELS),
        "projection": "TAN",
        "coordsys": "icrs",
        "format": "jpg",
    }
    return f"{settings.url}?{urlencode(query)}"


def survey_image(
    settings: SurveySettings, ra: float, dec: float, half_width_arcsec: float
) -> SurveyImage | None:
    """The cutout from the cache or the service; None when disabled or it cannot be had in time."""
    if not settings.url:
        return None
    url = cutout_url(settings, ra, dec, half_width_arcsec)
    caption = f"{settings.hips} via CDS hips2fits, the chart's frame (north up, east left)"
    cached = (
        None
        if settings.cache_dir is None
        else settings.cache_dir / f"{hashlib.sha256(url.encode()).hexdigest()}.jpg"
    )
    if cached is not None and cached.is_file():
        return SurveyImage(cached.read_bytes(), caption)
    from vtac.adapters.http import HttpPolicy, fetch  # pylint: disable=import-outside-toplevel  # requests

    policy = HttpPolicy(
        connect_timeout_s=min(3.0, settings.deadline_s), read_timeout_s=settings.deadline_s, retries=1
    )
    try:
        jpeg = fetch(url, policy=policy, deadline=time.monotonic() + settings.deadline_s)
    except TransientError as error:
        log.info("no survey image (%s): the catalogue chart alone", error)
        return None
    if not jpeg.startswith(JPEG_MAGIC):
        log.info("no survey image: the answer is not a JPEG (%d bytes)", len(jpeg))
        return None
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".partial")
        partial.write_bytes(jpeg)
        partial.replace(cached)
    return SurveyImage(jpeg, caption)
