"""Finding chart and light curves (PNG) for the Burst Advocate: matplotlib Agg with astropy WCSAxes.

No network (no sky survey image): the chart is drawn from what VTAC already holds, the catalogue sources
(sized by magnitude) and the VT detections, in a tangent-plane view around the X-ray circle. Everything is
black and grey with distinct markers and line styles, so it reads the same printed in grey. Figures are made
with the object API (no pyplot state), so the service may draw in any thread.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
from astropy.coordinates import SkyCoord
from astropy.wcs import WCS
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from matplotlib.ticker import FuncFormatter, NullFormatter

from vtac.adapters.extras.context import (
    BurstView,
    CandidateView,
    chart_frame,
    magnitude_column,
    positioned_catalogs,
)

PIXEL_ARCSEC = 1.0
BAND_STYLE = {
    "R": {"marker": "o", "color": "black", "mfc": "black", "ls": "-", "label": "VT_R"},
    "B": {"marker": "s", "color": "0.45", "mfc": "white", "ls": "--", "label": "VT_B"},
}
DPI = 110
#: A VT source with a catalogue source this close is drawn as catalogued.
MATCH_ARCSEC = 2.0


def finding_chart(view: BurstView) -> bytes:
    """The chart as PNG bytes."""
    ra0, dec0, half_width = chart_frame(view.summary, view.result.combined)
    wcs = _tangent_wcs(ra0, dec0, half_width)
    figure = Figure(figsize=(7.2, 7.6))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(projection=wcs)
    axes.set_xlim(-0.5, 2 * half_width / PIXEL_ARCSEC - 0.5)
    axes.set_ylim(-0.5, 2 * half_width / PIXEL_ARCSEC - 0.5)
    axes.set_facecolor("white")
    axes.set_aspect("equal")
    _catalog_sources(axes, view, wcs, half_width)
    _vt_detections(axes, view, wcs, half_width)
    _xray_circle(axes, view, wcs)
    _candidates(axes, view, wcs)
    _off_field_note(axes, view)
    _scale_bar(axes, half_width)
    _compass(axes, half_width)
    # sexagesimal with colons: plain text, no mathtext to parse (half the drawing time otherwise)
    axes.coords[0].set_major_formatter("hh:mm:ss")
    axes.coords[1].set_major_formatter("dd:mm:ss")
    axes.coords[0].set_axislabel("RA (ICRS)")
    axes.coords[1].set_axislabel("Dec (ICRS)")
    axes.coords.grid(color="0.85", linestyle=":", linewidth=0.6)
    tag = " (SIMULATED)" if view.context.simulated else ""
    axes.set_title(f"{view.burst_id} - VTAC version {view.context.version}{tag}", fontsize=12)
    # below the axes: inside them the legend hid the candidates of a corner
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, fontsize=8, frameon=False)
    return _png(figure)


def light_curve(view: BurstView, candidate: CandidateView) -> bytes:
    """VT_R and VT_B magnitude against time after T0 (or the first stack), limits, fitted decay."""
    figure = Figure(figsize=(6.4, 4.4))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    times: list[float] = []
    for band, style in BAND_STYLE.items():
        detected = [m for m in candidate.detections() if m.sequence.band == band and m.sequence.t_mid_s]
        if detected:
            t_min = np.array([m.sequence.t_mid_s for m in detected]) / 60.0
            mags = np.array([m.mag for m in detected], float)
            errs = np.array([m.err if m.err is not None else 0.0 for m in detected], float)
            axes.errorbar(
                t_min, mags, yerr=errs, fmt=style["marker"], color=style["color"], mfc=style["mfc"],
                capsize=3, label=style["label"],
            )  # fmt: skip
            times += list(t_min)
        limits = [
            m for m in candidate.measurements
            if m.sequence.band == band and not m.detected and m.sequence.t_mid_s and m.sequence.maglim
        ]  # fmt: skip
        for measurement in limits:
            # the B limit beside the R one of the same epoch, not on top of it
            t = float(measurement.sequence.t_mid_s or 0.0) / 60.0 * (1.06 if band == "B" else 1.0)
            limit = float(measurement.sequence.maglim or 0.0)
            axes.annotate(
                "", xy=(t, limit + 0.4), xytext=(t, limit),
                arrowprops={"arrowstyle": "-|>", "color": style["color"], "lw": 1.2},
            )  # fmt: skip
            axes.plot([t], [limit], marker="_", ms=12, color=style["color"])
            times.append(t)
    _decay(axes, view, candidate, times)
    axes.set_xscale("log")
    # plain tick labels: mathtext ($10^{1}$) costs most of the drawing time
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.invert_yaxis()
    axes.set_xlabel(f"time since {view.time_label} (min)" + ("" if view.t0_known else ", T0 unknown"))
    axes.set_ylabel("magnitude (AB, not corrected for extinction)")
    probability = f", p = {candidate.probability:.2f}" if candidate.probability is not None else ""
    axes.set_title(f"{view.burst_id} - candidate #{candidate.rank}, VT_ID {candidate.vt_id}{probability}")
    axes.grid(True, which="both", color="0.9")
    if times:
        axes.legend(fontsize=8)
    else:
        axes.text(0.5, 0.5, "no dated detection", transform=axes.transAxes, ha="center", fontsize=12)
    figure.subplots_adjust(left=0.12, right=0.97, top=0.92, bottom=0.12)
    return _png(figure)


def _decay(axes, view: BurstView, candidate: CandidateView, times: Sequence[float]) -> None:
    """The core's power law (its alpha; each band's offset fitted to the detections with alpha fixed)."""
    decay = candidate.decay
    if decay is None or not times:
        return
    shift_s = _core_time_shift(view)
    grid = np.geomspace(min(times) * 0.8, max(times) * 1.25, 50)
    for band, style in BAND_STYLE.items():
        seen = [m for m in candidate.detections() if m.sequence.band == band and m.sequence.t_mid_s]
        if not seen:
            continue
        log_t = np.log10(np.array([float(m.sequence.t_mid_s or 0.0) for m in seen]) + shift_s)
        weight = 1.0 / np.square([max(m.err or 0.1, 0.02) for m in seen])
        offset = float(
            np.average(np.array([m.mag for m in seen], float) - 2.5 * decay.alpha * log_t, weights=weight)
        )
        model = offset + 2.5 * decay.alpha * np.log10(grid * 60.0 + shift_s)
        axes.plot(
            grid, model, ls=style["ls"], color=style["color"], lw=1,
            label=f"{style['label']} decay, {decay.text()}",
        )  # fmt: skip


def _core_time_shift(view: BurstView) -> float:
    """Seconds to add to the plotted times to get the fit's: 0 with T0; without, the fit took T0 the assumed
    delay before the first stack's mid-time while the plot counts from its start."""
    if view.t0_known or not view.sequences:
        return 0.0
    delay = float(view.summary.get("assumed_trigger_delay_s") or 0.0)
    first = min(view.sequences, key=lambda s: s.t_mid_s if s.t_mid_s is not None else math.inf)
    return max(delay - 0.5 * (first.exposure_s or 0.0), 1.0)


def _tangent_wcs(ra0: float, dec0: float, half_width: float) -> WCS:
    """North up, east left, ``PIXEL_ARCSEC`` per pixel, centred on the frame."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra0, dec0]
    wcs.wcs.crpix = [half_width / PIXEL_ARCSEC + 0.5, half_width / PIXEL_ARCSEC + 0.5]
    wcs.wcs.cdelt = [-PIXEL_ARCSEC / 3600.0, PIXEL_ARCSEC / 3600.0]
    wcs.wcs.radesys = "ICRS"
    return wcs


def _in_frame(x: np.ndarray, y: np.ndarray, half_width: float) -> np.ndarray:
    """Points on the chart (a 50k-row catalogue cone is mostly outside a 2' frame: not drawn at all)."""
    size = 2 * half_width / PIXEL_ARCSEC
    return np.isfinite(x) & np.isfinite(y) & (x > -10) & (x < size + 10) & (y > -10) & (y < size + 10)


def _catalog_sources(axes, view: BurstView, wcs: WCS, half_width: float) -> None:
    labelled = False
    for _, table in positioned_catalogs(view):
        column = magnitude_column(table)
        mags = np.asarray(table[column], float) if column else np.full(len(table), 20.0)
        mags = np.where(np.isfinite(mags), mags, 23.0)
        x, y = wcs.all_world2pix(np.asarray(table["RA"], float), np.asarray(table["DEC"], float), 0)
        inside = _in_frame(x, y, half_width)
        x, y, mags = x[inside], y[inside], mags[inside]
        sizes = np.clip(24.0 - mags, 1.0, 10.0) ** 2 * 6.0
        axes.scatter(
            x, y, s=sizes, facecolor="0.75", edgecolor="0.55", linewidths=0.4, zorder=1,
            label=None if labelled else "catalogue sources (size: magnitude)",
        )  # fmt: skip
        labelled = True


def _vt_detections(axes, view: BurstView, wcs: WCS, half_width: float) -> None:
    """VT sources with a catalogue source within :data:`MATCH_ARCSEC` as small filled dots, the others
    (uncatalogued, or no catalogue answered) as crosses: told apart at a glance."""
    combined = view.result.combined
    if len(combined) == 0:
        return
    ra, dec = np.asarray(combined["RA"], float), np.asarray(combined["DEC"], float)
    x, y = wcs.all_world2pix(ra, dec, 0)
    inside = _in_frame(x, y, half_width)
    matched = _catalogued(view, ra, dec) & inside
    if matched.any():
        axes.scatter(
            x[matched], y[matched], s=14, marker="o", color="0.1", zorder=2, label="VT source, catalogued"
        )
    axes.scatter(
        x[inside & ~matched], y[inside & ~matched], s=36, marker="x", color="black", linewidths=1.4, zorder=2,
        label="VT source, uncatalogued" if view.verified else "VT source (no catalogue answered)",
    )  # fmt: skip


def _catalogued(view: BurstView, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """Whether each VT position has a catalogue source (of a catalogue that answered) within MATCH_ARCSEC."""
    found = np.zeros(len(ra), dtype=bool)
    for _, table in positioned_catalogs(view):
        sky = SkyCoord(np.asarray(table["RA"], float), np.asarray(table["DEC"], float), unit="deg")
        _, distance, _ = SkyCoord(ra, dec, unit="deg").match_to_catalog_sky(sky)
        found |= distance.arcsec <= MATCH_ARCSEC
    return found


def _xray_circle(axes, view: BurstView, wcs: WCS) -> None:
    mxt = view.summary.get("mxt")
    if not mxt or view.xray_off_field:
        return
    x, y = wcs.all_world2pix([mxt["ra"]], [mxt["dec"]], 0)
    radius = float(mxt["r90_arcsec"]) / PIXEL_ARCSEC
    axes.add_patch(
        Circle((float(x[0]), float(y[0])), radius, fill=False, ls="--", lw=1.5, ec="black", zorder=3,
               label=f"{view.xray_label} R90 = {mxt['r90_arcsec']:.0f}\"")
    )  # fmt: skip
    axes.plot(
        x,
        y,
        marker="+",
        ms=14,
        mew=1.5,
        color="black",
        zorder=6,
        ls="none",
        label=f"{view.xray_label} centre",
    )


def _off_field_note(axes, view: BurstView) -> None:
    """A circle VT did not observe is said on the chart, not silently left out."""
    if not view.xray_off_field:
        return
    axes.text(
        0.5, 0.97, f"{view.xray_label} circle OUTSIDE the VT field:\nVT did not observe it",
        transform=axes.transAxes, ha="center", va="top", fontsize=11, fontweight="bold", zorder=7,
        bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "black"},
    )  # fmt: skip


def _candidates(axes, view: BurstView, wcs: WCS) -> None:
    """Best candidates as hollow squares, the others as hollow diamonds (the legend shows the same shapes):
    hollow, so the X-ray centre and the source under them stay visible, and above the labels, so the label of
    a neighbour never hides one."""
    best = set(view.best_ids)
    for is_best, marker, label in ((True, "s", "best candidate"), (False, "D", "other candidate")):
        chosen = [c for c in view.candidates if (c.vt_id in best) == is_best]
        if not chosen:
            continue
        x, y = wcs.all_world2pix([c.ra for c in chosen], [c.dec for c in chosen], 0)
        axes.scatter(
            x, y, s=170 if is_best else 90, marker=marker, facecolors="none", edgecolors="black",
            linewidths=2.0 if is_best else 1.0, zorder=6, label=label,
        )  # fmt: skip
        for candidate, cx, cy in zip(chosen, x, y, strict=True):
            probability = f" ({candidate.probability:.2f})" if candidate.probability is not None else ""
            axes.annotate(
                f"{candidate.rank}{probability}", (float(cx), float(cy)), xytext=(9, 9),
                textcoords="offset points", fontsize=10 if is_best else 8,
                fontweight="bold" if is_best else "normal", zorder=5,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
            )  # fmt: skip


def _scale_bar(axes, half_width: float) -> None:
    length = _nice_length(half_width / 2.5)
    size = 2 * half_width / PIXEL_ARCSEC
    x0, y0 = 0.06 * size, 0.06 * size
    axes.plot([x0, x0 + length / PIXEL_ARCSEC], [y0, y0], color="black", lw=3, solid_capstyle="butt")
    label = f"{length / 60:.0f}'" if length >= 60 else f'{length:.0f}"'
    axes.text(x0 + 0.5 * length / PIXEL_ARCSEC, y0 + 0.02 * size, label, ha="center", fontsize=10)


def _compass(axes, half_width: float) -> None:
    """North up, east left: the WCS is built that way (CDELT1 < 0)."""
    size = 2 * half_width / PIXEL_ARCSEC
    x0, y0, arm = 0.9 * size, 0.78 * size, 0.1 * size
    for dx, dy, label in ((0.0, arm, "N"), (-arm, 0.0, "E")):
        axes.annotate(
            "", xy=(x0 + dx, y0 + dy), xytext=(x0, y0),
            arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.5},
        )  # fmt: skip
        axes.text(x0 + 1.25 * dx, y0 + 1.25 * dy, label, ha="center", va="center", fontsize=11)


def _nice_length(arcsec: float) -> float:
    """A round scale-bar length not above ``arcsec``: 1, 2, 5 x 10^n arcsec, or whole arcminutes."""
    for value in (600, 300, 120, 60, 30, 20, 10, 5, 2, 1):
        if value <= arcsec:
            return float(value)
    return max(arcsec, 0.5) if math.isfinite(arcsec) else 1.0


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": "VTAC"})
    return buffer.getvalue()
