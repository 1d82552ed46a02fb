"""The reference catalogues of one build: which to ask (``NAME=SOURCE``) and their answers for a field."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from vtac.adapters.providers import RemoteSettings, is_remote, query_catalogs, resolve_provider
from vtac.core.constants import COVERAGE_RADIUS_ARCSEC
from vtac.core.coverage import Cone
from vtac.core.crossmatch import field_of
from vtac.core.records import CATALOG_NAMES, CatalogAnswer, CatalogStatus, VTObservation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CatalogSource:
    """A reference catalogue to ask: its name and where it is (a service name, a file or a HATS directory)."""

    name: str
    source: str

    @classmethod
    def parse(cls, text: str) -> CatalogSource:
        """``NAME=SOURCE`` with NAME one of the known catalogues (ValueError naming the item otherwise)."""
        name, sep, source = text.partition("=")
        name, source = name.strip().upper(), source.strip()
        if not sep or not source:
            raise ValueError(f"{text.strip()!r}: expected NAME=SOURCE, e.g. SDSS12=vizier")
        if name not in CATALOG_NAMES:
            raise ValueError(f"{text.strip()!r}: unknown catalogue {name}; known: {', '.join(CATALOG_NAMES)}")
        return cls(name, source)

    def __str__(self) -> str:
        return f"{self.name}={self.source}"


def parse_catalog_sources(value: str | Sequence[str | CatalogSource]) -> list[CatalogSource]:
    """The one parser of ``VTAC_CATALOGUES__SOURCES``, the TOML ``catalogues.sources`` and ``--catalog``: a
    JSON list, a comma-separated string or a list of ``NAME=SOURCE``; each catalogue at most once (else
    ValueError)."""
    items: Sequence[str | CatalogSource]
    if isinstance(value, str):
        text = value.strip()
        items = json.loads(text) if text.startswith("[") else text.split(",")
    else:
        items = value
    sources = [
        item if isinstance(item, CatalogSource) else CatalogSource.parse(str(item))
        for item in items
        if isinstance(item, CatalogSource) or str(item).strip()
    ]
    names = [source.name for source in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"each catalogue at most once: {names}")
    return sources


def field_cone(observation: VTObservation) -> Cone | None:
    """The cone to ask the catalogues: all detections, plus the margin where the core looks for neighbours."""
    detections = observation.detections
    if len(detections) == 0:
        return None
    field = field_of(detections["RA"], detections["DEC"], 0.0)
    return Cone(field.ra, field.dec, (field.radius_arcsec + COVERAGE_RADIUS_ARCSEC) / 3600.0)


def ask_catalogs(
    sources: list[CatalogSource], observation: VTObservation, remote: RemoteSettings
) -> list[CatalogAnswer]:
    """Every catalogue's answer, in the order asked: files read here, services asked concurrently."""
    providers = [(item.name, resolve_provider(item.name, item.source, remote)) for item in sources]
    cone = field_cone(observation)
    remote_indices = [index for index, item in enumerate(sources) if is_remote(item.source)]
    answers: dict[int, CatalogAnswer] = {}
    if cone is None:
        nothing = "no VT detection: nothing to look for"
        answers = {
            i: CatalogAnswer(sources[i].name, CatalogStatus.NOT_COVERED, None, nothing)
            for i in remote_indices
        }
    else:
        asked = query_catalogs([providers[i] for i in remote_indices], cone, remote.deadline_s)
        answers = dict(zip(remote_indices, asked, strict=True))
    for index, (name, provider) in enumerate(providers):
        if index not in answers:
            answers[index] = provider.query(name, cone or Cone(0.0, 0.0, 0.0), deadline=0.0)
    for answer in answers.values():
        if answer.status is not CatalogStatus.OK or answer.truncated:
            log.warning("catalogue %s %s: %s", answer.name, answer.status.value, answer.message)
    return [answers[index] for index in range(len(sources))]
