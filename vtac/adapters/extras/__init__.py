"""What the Burst Advocate and the community receive besides the FITS/JSON products of one burst version.

``write_extras`` writes, beside the products: the VOEvent 2.0 packet and the GCN-style JSON notice of the best
candidate (none without one), the GCN circular draft, the finding chart, a light curve per best candidate and
the self-contained burst page that shows them all. The modules import matplotlib, lxml and jinja2 only here,
so the products (and the service's notification) never wait for them.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vtac.adapters.extras.context import ExtrasContext, VersionEntry, burst_view, chart_frame
from vtac.core.records import QpoVtResult
from vtac.core.sky import separation_arcsec

__all__ = [
    "ExtrasContext",
    "ExtrasFiles",
    "VersionEntry",
    "extras_names",
    "render_extras",
    "slim_result",
    "write_extras",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtrasFiles:
    """Where each extra was written; ``voevent`` and ``notice`` are None when there is no best candidate."""

    page: Path
    chart: Path
    circular: Path
    voevent: Path | None = None
    notice: Path | None = None
    light_curves: dict[int, Path] = field(default_factory=dict)

    def all(self) -> dict[str, Path]:
        """Label -> path of every file written (labels as in the notification's ``extras``)."""
        files = {"page": self.page, "chart": self.chart, "circular": self.circular}
        if self.voevent is not None:
            files["voevent"] = self.voevent
        if self.notice is not None:
            files["notice"] = self.notice
        files.update({f"light_curve_{vt_id}": path for vt_id, path in self.light_curves.items()})
        return files


def extras_names(burst_id: str) -> dict[str, str]:
    """File names of the extras of a burst (light curves: ``light_curve`` with ``{vt_id}`` to fill)."""
    stem = f"QPO_VT_{burst_id}"
    return {
        "page": f"{stem}.html",
        "chart": f"{stem}_chart.png",
        "circular": f"{stem}_circular.txt",
        "voevent": f"{stem}_voevent.xml",
        "notice": f"{stem}_notice.json",
        "light_curve": f"{stem}_lc_VT{{vt_id}}.png",
    }


def write_extras(
    result: QpoVtResult,
    summary: Mapping[str, Any],
    context: ExtrasContext,
    out_dir: str | os.PathLike[str],
) -> ExtrasFiles:
    """Write every extra of one burst version into ``out_dir``; the page links the products in ``links``."""
    from vtac.adapters.files import write_bytes_atomically  # pylint: disable=import-outside-toplevel

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for label, (name, content) in render_extras(result, summary, context).items():
        paths[label] = write_bytes_atomically(out / name, content)
    log.info("extras written: %s", paths["page"], extra={"burst_id": result.burst_id})
    return ExtrasFiles(
        page=paths["page"],
        chart=paths["chart"],
        circular=paths["circular"],
        voevent=paths.get("voevent"),
        notice=paths.get("notice"),
        light_curves={
            int(label.removeprefix("light_curve_")): path
            for label, path in paths.items()
            if label.startswith("light_curve_")
        },
    )


def render_extras(
    result: QpoVtResult, summary: Mapping[str, Any], context: ExtrasContext
) -> dict[str, tuple[str, bytes]]:
    """Every extra as label -> (file name, content), the page last, made in memory: what the service's worker
    process returns (no scratch files, so no disk flushes competing with the products')."""
    # Imported here: matplotlib and lxml cost ~1 s of imports the products never need.
    # pylint: disable=import-outside-toplevel
    from vtac.adapters.extras.charts import finding_chart, light_curve
    from vtac.adapters.extras.circular import build_circular
    from vtac.adapters.extras.gcn_notice import build_notice, notice_json
    from vtac.adapters.extras.page import build_page
    from vtac.adapters.extras.voevent import build_voevent

    names = extras_names(result.burst_id)
    view = burst_view(result, summary, context)
    circular = build_circular(view)
    chart = finding_chart(view)
    survey = _survey(result, summary, context)
    curves = {c.vt_id: light_curve(view, c) for c in view.best_candidates()}
    contents: dict[str, bytes | None] = {
        "chart": chart,
        "circular": circular.encode("utf-8"),
        "voevent": build_voevent(view),
        "notice": _json_bytes(build_notice(view), notice_json),
        **{f"light_curve_{vt_id}": png for vt_id, png in curves.items()},
    }
    files = {
        label: (names["light_curve"].format(vt_id=label.removeprefix("light_curve_")), content)
        if label.startswith("light_curve_")
        else (names[label], content)
        for label, content in contents.items()
        if content is not None
    }
    links = dict(context.links)  # the caller's addresses win (the service links into the SDB)
    for label, (name, _) in files.items():
        links.setdefault(label, name)
    html = build_page(
        view, chart_png=chart, light_curves=curves, circular=circular, links=links, survey=survey
    )
    files["page"] = (names["page"], html.encode("utf-8"))
    return files


def _survey(result: QpoVtResult, summary: Mapping[str, Any], context: ExtrasContext) -> Any:
    """The survey image of the chart's frame when configured (None: not asked, or not had in time)."""
    if context.survey is None:
        return None
    from vtac.adapters.survey import survey_image  # pylint: disable=import-outside-toplevel

    return survey_image(context.survey, *chart_frame(summary, result.combined))


def _json_bytes(notice: Any, encode: Any) -> bytes | None:
    """The notice as UTF-8 JSON, or None when there is none."""
    return None if notice is None else encode(notice).encode("utf-8")


def slim_result(result: QpoVtResult, summary: Mapping[str, Any]) -> QpoVtResult:
    """Only what the extras use: VT positions, the catalogue rows on the chart, the sequences.

    Not a full result (COMBINED keeps RA and DEC only; no candidate or per-source catalogue tables, which the
    summary replaces): a small payload to keep while waiting and to send to the worker process.
    """
    ra0, dec0, half_width = chart_frame(summary, result.combined)
    reach = math.sqrt(2.0) * half_width + 10.0
    catalogs = []
    for answer in result.catalogs:
        table = answer.table
        if table is not None and len(table) and {"RA", "DEC"} <= set(table.colnames):
            table = table[separation_arcsec(table["RA"], table["DEC"], ra0, dec0) <= reach]
        catalogs.append(replace(answer, table=table))
    return replace(
        result,
        combined=result.combined[["RA", "DEC"]],
        catalogs=catalogs,
        catalog_tables={},
        candidates=result.candidates[:0],
        best=result.best[:0],
    )
