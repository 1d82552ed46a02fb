"""The science evaluation's scenarios: simulated bursts on an independent truth, with the catalogue VTAC gets.

Each scenario is a small sub-field of the packaged SDSS degree (a different centre each time) whose true VT
sky comes from :mod:`vtac.simulation.truth` (SED synthetic photometry, not the pipeline's transforms), and
whose reference catalogue is what SDSS12, GAIADR3, PS1DR1 or USNOB1 would report for that sky (rotated
across scenarios). Afterglows are the real GCN cases (their magnitudes and colours, their X-ray R90 where
known, else 60") with a decay index 0.7-1.5; the X-ray circle is centred by an *unconditioned* draw from a
2-D Gaussian whose 90 % radius is R90, so one afterglow in ten lies outside it, as a real 90 % circle
implies. Families (``Scenario.family``):

* with an afterglow: ``afterglow`` (magnitudes shifted by -1.5..+1.5), ``near_limit`` (first sequence
  within a mag of the VT limit), ``rising`` (alpha < 0), ``r_only`` (no VT_B: high redshift), ``seen_once``
  (a steep early decay, alpha 2.5-3, below the limit after the first sequence), ``saturated`` (brighter
  than saturation in every sequence: EFLAG 4), ``host_blend`` (0.3" from a faint catalogued source),
  ``outside_r90`` (circle drawn from the 10 % tail), and the traps below beside an afterglow;
* traps, with or without an afterglow: ``red_star`` (a steady catalogued star of B - R ~ 1.5 inside the
  circle, carrying its real transform error), ``asteroid`` (moving 20-40"/h, one detection per sequence
  index, both bands), ``crowded`` (0.04-0.12 stars/arcsec^2 added to the truth *and* the catalogue, on a
  field of at most 2' half-width);
* ``dark``: no afterglow, the circle anywhere in the field; dark traps made by the detector:
  ``cosmic_ray`` (one camera, one sequence, 1-2.5 mag above the limit, often EFLAG 4), ``hot_pixel`` (one
  camera, every sequence) and ``flicker`` (a steady star near the limit, seen as the completeness allows).

Each burst's detector is drawn around the defaults (completeness width and centre, see
:data:`WIDTH_FACTORS`); every field carries cosmic rays and hot pixels at the default rates; a
:class:`Perturbation` moves those assumptions for the robustness figures. T0 reaches VTAC for
:data:`T0_KNOWN_FRACTION` of the bursts.

Everything is drawn from ``numpy.random.default_rng([seed, index])``: a scenario is reproducible alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cache

import numpy as np
from astropy.table import Table, vstack

from vtac.core.records import N_SEQ_PER_BAND, CatalogAnswer, MxtPosition
from vtac.simulation.burst import (
    DEFAULT_PLAN,
    R90_TO_SIGMA,
    AfterglowSpec,
    BurstSpec,
    DetectorModel,
    FieldGeometry,
    InjectedSource,
    SimulatedBurst,
    offset_position,
    simulate_burst,
    xray_circle,
)
from vtac.simulation.sky import (
    DEMO_CATALOG_FILE,
    DEMO_CATALOG_NAME,
    AfterglowCase,
    data_path,
    load_gcn_cases,
)
from vtac.simulation.truth import SDSS_BANDS, SURVEYS, survey_catalog, true_vt_sky, with_true_vt

AFTERGLOW_FAMILIES = (
    "afterglow",
    "near_limit",
    "rising",
    "r_only",
    "seen_once",
    "saturated",
    "host_blend",
    "outside_r90",
    "red_star",
    "asteroid",
    "crowded",
)
DARK_FAMILIES = ("dark", "red_star", "asteroid", "crowded", "cosmic_ray", "hot_pixel", "flicker")
#: The packaged SDSS degree: RA 215.1-216.1, Dec 52.6-53.6.
SKY_BOX = (215.1, 216.1, 52.6, 53.6)
DEFAULT_R90_ARCSEC = 60.0
CROWDED_HALF_WIDTH_ARCMIN = 2.0
CROWDED_DENSITY = (0.04, 0.12)  # stars per arcsec^2
ASTEROID_SPEED = (20.0, 40.0)  # arcsec per hour
SATURATED_MAG = 11.0
#: Each burst's detector is drawn around the defaults: completeness width x 0.6-1.8, its centre within
#: 0.2 mag of MAGLIM (what the lists' own completeness measurement must absorb).
WIDTH_FACTORS = (0.6, 1.8)
COMPLETENESS_OFFSETS = (-0.2, 0.2)
#: Share of bursts whose trigger time reaches VTAC (otherwise light curves use the documented fallback).
T0_KNOWN_FRACTION = 0.75


@dataclass(frozen=True)
class Perturbation:
    """A change of the detector against the one the model was fitted on (``make evaluate`` robustness)."""

    name: str = "default"
    width_factor: float = 1.0
    offset_shift_mag: float = 0.0
    artefact_factor: float = 1.0
    noise_factor: float = 1.0
    dropout_fraction: float = 0.0
    faint_counts_factor: float = 1.0

    def detector(self, rng: np.random.Generator) -> DetectorModel:
        """This burst's detector: the drawn defaults, then the perturbation."""
        nominal = DetectorModel()
        width = nominal.completeness_width_mag * math.exp(rng.uniform(*np.log(WIDTH_FACTORS)))
        return replace(
            nominal,
            completeness_width_mag=width * self.width_factor,
            completeness_offset_mag=rng.uniform(*COMPLETENESS_OFFSETS) + self.offset_shift_mag,
            noise_scale=self.noise_factor,
            artefacts_per_sequence=nominal.artefacts_per_sequence * self.artefact_factor,
            cosmic_rays_per_sequence=nominal.cosmic_rays_per_sequence * self.artefact_factor,
            hot_pixels_per_camera=nominal.hot_pixels_per_camera * self.artefact_factor,
            dropout_fraction=self.dropout_fraction,
            faint_counts_factor=self.faint_counts_factor,
        )


#: The robustness set: each assumption of the simulator moved beyond what the model was fitted on.
PERTURBATIONS = (
    Perturbation("completeness width x0.5", width_factor=0.5),
    Perturbation("completeness width x2", width_factor=2.0),
    Perturbation("MAGLIM offset -0.3", offset_shift_mag=-0.3),
    Perturbation("MAGLIM offset +0.3", offset_shift_mag=0.3),
    Perturbation("artefact rate x3", artefact_factor=3.0),
    Perturbation("magnitude errors x1.5", noise_factor=1.5),
    Perturbation("lists drop 1 % of sources", dropout_fraction=0.01),
    Perturbation("faint sources x2", faint_counts_factor=2.0),
)


@dataclass(frozen=True)
class Scenario:  # pylint: disable=too-many-instance-attributes  # a record
    """One evaluation case: the simulated inputs, the catalogue VTAC is given, and what is true.

    ``burst.truth.objids['afterglow']`` maps each sequence to the afterglow's OBJID (absent where it was not
    detected); ``traps`` gives the label and true (ra, dec) of every trap source (the red star, the
    asteroid at T0), whose detections ``burst.truth.objids[label]`` lists where known.
    """

    name: str
    family: str
    burst: SimulatedBurst
    catalogs: list[CatalogAnswer]
    catalog_label: str
    has_afterglow: bool
    traps: dict[str, tuple[float, float]] = field(default_factory=dict)


@cache
def _sky_truth(seed: int) -> Table:
    """The true VT sky of the whole SDSS degree (computed once per seed, ~2 s)."""
    # The only I/O: the packaged catalogue. pylint: disable-next=import-outside-toplevel
    from vtac.adapters.catalog_file import read_catalog_file

    answer = read_catalog_file(DEMO_CATALOG_NAME, data_path(DEMO_CATALOG_FILE))
    return true_vt_sky(answer, np.random.default_rng([seed, 2**31]))


def generate_scenarios(
    seed: int,
    *,
    n_afterglow: int,
    n_dark: int,
    half_width_arcmin: float = 4.0,
    perturbation: Perturbation = Perturbation(),
) -> Iterator[Scenario]:
    """``n_afterglow`` scenarios with an afterglow then ``n_dark`` without, families in rotation."""
    truth = _sky_truth(seed)
    cases = load_gcn_cases()
    plan = [(AFTERGLOW_FAMILIES[k % len(AFTERGLOW_FAMILIES)], True) for k in range(n_afterglow)]
    plan += [(DARK_FAMILIES[k % len(DARK_FAMILIES)], False) for k in range(n_dark)]
    for index, (family, has_afterglow) in enumerate(plan):
        rng = np.random.default_rng([seed, index])
        yield _scenario(
            truth,
            cases,
            seed=seed,
            index=index,
            family=family,
            has_afterglow=has_afterglow,
            half_width_arcmin=half_width_arcmin,
            rng=rng,
            perturbation=perturbation,
        )


def _scenario(  # pylint: disable=too-many-arguments,too-many-locals
    truth: Table,
    cases: list[AfterglowCase],
    *,
    seed: int,
    index: int,
    family: str,
    has_afterglow: bool,
    half_width_arcmin: float,
    rng: np.random.Generator,
    perturbation: Perturbation,
) -> Scenario:
    detector = perturbation.detector(rng)
    if family == "crowded":
        half_width_arcmin = min(half_width_arcmin, CROWDED_HALF_WIDTH_ARCMIN)
    label = SURVEYS[index % len(SURVEYS)]
    geometry = _field(half_width_arcmin, rng)
    sky = _field_sky(truth, geometry)
    if family == "crowded":
        sky = _crowded(sky, truth, geometry, rng)
    case = cases[int(rng.integers(len(cases)))]
    r90 = case.xray_r90_arcsec or DEFAULT_R90_ARCSEC
    glow: AfterglowSpec | None = None
    traps: dict[str, tuple[float, float]] = {}
    injected: tuple[InjectedSource, ...] = ()
    # A host must be in the catalogue: for that family the catalogue is drawn first.
    catalogue = survey_catalog(sky, label, rng) if family == "host_blend" else None
    if has_afterglow:
        hosts = _catalogued(sky, catalogue)
        glow = _afterglow(case, family, hosts, geometry, rng)
        circle = _circle(glow.ra, glow.dec, r90, family, rng)
    else:
        centre = offset_position(
            geometry.ra0, geometry.dec0, *_uniform_in_square(geometry.half_width_arcsec, rng)
        )
        circle = MxtPosition(centre[0], centre[1], r90)
    if family == "red_star":
        sky, traps["red_star"] = _red_star(sky, truth, circle, rng)
    if family == "asteroid":
        asteroid = _asteroid(circle.ra, circle.dec, r90, rng)
        injected, traps["asteroid"] = (asteroid,), (asteroid.ra, asteroid.dec)
    if family in ("cosmic_ray", "hot_pixel"):
        hit = _camera_hit(family, circle, detector, rng)
        injected, traps[family] = (hit,), (hit.ra, hit.dec)
    if family == "flicker":
        sky, traps["flicker"] = _flickering_star(sky, truth, circle, detector, rng)
    spec = BurstSpec(
        ra=geometry.ra0,
        dec=geometry.dec0,
        burst_id=f"sb9{index % 10**7:07d}",
        half_width_arcmin=half_width_arcmin,
        afterglow=glow,
        injected=injected,
        detector=detector,
    )
    burst = simulate_burst(sky, spec, rng)
    t0_known = rng.uniform() < T0_KNOWN_FRACTION
    burst = replace(burst, mxt=circle, trigger_time=burst.trigger_time if t0_known else None)
    if catalogue is None:
        catalogue = survey_catalog(sky, label, rng)
    name = f"{family}:{case.aliases[0] if has_afterglow else 'dark'}:{label}:seed{seed}:{index}"
    return Scenario(name, family, burst, [catalogue], label, has_afterglow, traps)


# ---------------------------------------------------------------------------------------------------------
# Fields.


def _field(half_width_arcmin: float, rng: np.random.Generator) -> FieldGeometry:
    """A square sub-field wholly inside the SDSS degree, its centre drawn uniformly."""
    margin = half_width_arcmin / 60.0 + 0.01
    dec = rng.uniform(SKY_BOX[2] + margin, SKY_BOX[3] - margin)
    margin_ra = margin / math.cos(math.radians(SKY_BOX[3]))
    ra = rng.uniform(SKY_BOX[0] + margin_ra, SKY_BOX[1] - margin_ra)
    return FieldGeometry(ra, dec, half_width_arcmin * 60.0)


def _field_sky(truth: Table, geometry: FieldGeometry) -> Table:
    """The truth rows inside the field (plus a 10" margin for sources blending across the border)."""
    xi, eta = geometry.project(np.asarray(truth["RA"], float), np.asarray(truth["DEC"], float))
    with np.errstate(invalid="ignore"):
        near = (np.abs(xi) < geometry.half_width_arcsec + 10.0) & (
            np.abs(eta) < geometry.half_width_arcsec + 10.0
        )
    return truth[near]


def _uniform_in_square(half_arcsec: float, rng: np.random.Generator) -> tuple[float, float]:
    """(offset, position angle) of a point uniform in a square of half-side ``half_arcsec``."""
    x, y = rng.uniform(-half_arcsec, half_arcsec, 2)
    return float(math.hypot(x, y)), float(math.degrees(math.atan2(x, y)))


def _uniform_in_disk(radius_arcsec: float, rng: np.random.Generator) -> tuple[float, float]:
    return radius_arcsec * math.sqrt(rng.uniform()), rng.uniform(0.0, 360.0)


def _copies(  # pylint: disable=too-many-arguments,too-many-positional-arguments
    truth: Table,
    rows: np.ndarray,
    positions: tuple[np.ndarray, np.ndarray],
    shift: np.ndarray,
    first_id: int = 0,
) -> Table:
    """Copies of truth rows at new positions, ``shift`` mag fainter, with new IDs and fresh true VT mags."""
    extra = truth[rows]
    extra["RA"], extra["DEC"] = positions
    ids = [f"SIM{first_id + k}" for k in range(len(extra))]
    extra["ID"] = np.array(ids, dtype=str) if ids else np.zeros(0, dtype=str)
    for band in SDSS_BANDS:
        extra[f"SED_{band}"] = np.asarray(extra[f"SED_{band}"], float) + shift
        extra[f"SDSS_MAG_{band}"] = np.asarray(extra[f"SDSS_MAG_{band}"], float) + shift
        extra[f"SDSS_ERR_{band}"] = np.asarray(extra[f"SDSS_ERR_{band}"], float) * 10.0 ** (0.4 * shift)
    return extra


def _crowded(sky: Table, truth: Table, geometry: FieldGeometry, rng: np.random.Generator) -> Table:
    """``sky`` plus real SDSS stars (resampled, 0-2 mag fainter) to a density of 0.04-0.12 per arcsec^2."""
    side = 2.0 * geometry.half_width_arcsec
    n = int(rng.uniform(*CROWDED_DENSITY) * side * side) - len(sky)
    stars = np.flatnonzero(~np.asarray(truth["EXTENDED"], bool) & (np.asarray(truth["MAG_R"], float) > 17.0))
    rows = rng.choice(stars, max(n, 0))
    xi, eta = rng.uniform(-side / 2, side / 2, len(rows)), rng.uniform(-side / 2, side / 2, len(rows))
    positions = geometry.deproject(xi, eta)
    extra = with_true_vt(_copies(truth, rows, positions, rng.uniform(0.0, 2.0, len(rows))), rng)
    return vstack([sky, extra], metadata_conflicts="silent")


# ---------------------------------------------------------------------------------------------------------
# The afterglow and its X-ray circle.


def _afterglow(
    case: AfterglowCase, family: str, sky: Table, geometry: FieldGeometry, rng: np.random.Generator
) -> AfterglowSpec:
    """The case's afterglow in the inner half of the field, its magnitude and decay set by the family."""
    alpha = rng.uniform(-0.8, -0.2) if family == "rising" else rng.uniform(0.7, 1.5)
    colour = case.vt_B_mag - case.vt_R_mag if math.isfinite(case.vt_B_mag) else rng.uniform(0.3, 0.8)
    colour = math.nan if family == "r_only" else colour
    first, last = DEFAULT_PLAN[0].mid_s, DEFAULT_PLAN[-1].mid_s
    mag_first = case.vt_R_mag + 2.5 * alpha * math.log10(first / case.t_mid_s) + rng.uniform(-1.5, 1.5)
    limit = DetectorModel().maglim(DEFAULT_PLAN[0].n_frames)
    if family == "near_limit":
        mag_first = limit - rng.uniform(0.2, 1.2)
    elif family == "seen_once":
        alpha = rng.uniform(2.5, 3.0)  # a steep early decay: gone by the second sequence
        mag_first = limit - rng.uniform(0.7, 1.0)
    elif family == "saturated":
        mag_first = SATURATED_MAG - max(colour, 0.0) - 2.5 * alpha * math.log10(last / first)
    else:
        mag_first = min(mag_first, limit - 0.5)
    ra, dec = offset_position(
        geometry.ra0, geometry.dec0, *_uniform_in_disk(geometry.half_width_arcsec / 2, rng)
    )
    if family == "host_blend":
        ra, dec = _host(sky, ra, dec, rng)

    return AfterglowSpec(ra, dec, mag_first, first, colour, alpha)


def _catalogued(sky: Table, catalogue: CatalogAnswer | None) -> Table:
    """The rows of ``sky`` the catalogue reports (all of them without a catalogue)."""
    if catalogue is None or catalogue.table is None:
        return sky
    listed = {str(key) for key in catalogue.table["ID"]}
    return sky[np.array([str(key) in listed for key in sky["ID"]], bool)]


def _host(sky: Table, ra: float, dec: float, rng: np.random.Generator) -> tuple[float, float]:
    """0.3" from the faint source of ``sky`` nearest to (ra, dec): VT_R 19-22.5, a galaxy if there is one."""
    mag_r = np.asarray(sky["MAG_R"], float)
    with np.errstate(invalid="ignore"):
        faint = (mag_r > 19.0) & (mag_r < 22.5)
    galaxies = faint & np.asarray(sky["EXTENDED"], bool)
    pool = np.flatnonzero(galaxies if galaxies.any() else faint)
    if len(pool) == 0:
        return ra, dec
    distance = np.hypot(
        (np.asarray(sky["RA"])[pool] - ra) * math.cos(math.radians(dec)), np.asarray(sky["DEC"])[pool] - dec
    )
    host = pool[int(np.argmin(distance))]
    return offset_position(float(sky["RA"][host]), float(sky["DEC"][host]), 0.3, rng.uniform(0.0, 360.0))


def _circle(ra: float, dec: float, r90: float, family: str, rng: np.random.Generator) -> MxtPosition:
    """The X-ray circle: unconditioned (P(contains) = 0.9), or from the 10 % tail for ``outside_r90``."""
    if family != "outside_r90":
        return xray_circle(ra, dec, r90, rng)
    sigma = r90 * R90_TO_SIGMA
    radius = sigma * math.sqrt(-2.0 * math.log(rng.uniform(1e-6, 0.1)))
    centre = offset_position(ra, dec, radius, rng.uniform(0.0, 360.0))
    return MxtPosition(centre[0], centre[1], r90)


# ---------------------------------------------------------------------------------------------------------
# Traps.


def _red_star(
    sky: Table, truth: Table, circle: MxtPosition, rng: np.random.Generator
) -> tuple[Table, tuple[float, float]]:
    """A real SDSS red star (VT B - R 1.2-1.8, r < 21) copied into the circle at VT_R 17-20."""
    colour = np.asarray(truth["MAG_B"], float) - np.asarray(truth["MAG_R"], float)
    with np.errstate(invalid="ignore"):
        red = (
            ~np.asarray(truth["EXTENDED"], bool)
            & (colour > 1.2)
            & (colour < 1.8)
            & (np.asarray(truth["SDSS_MAG_r"], float) < 21.0)
        )
    row = int(rng.choice(np.flatnonzero(red)))
    shift = rng.uniform(17.0, 20.0) - float(truth["MAG_R"][row])
    position = offset_position(circle.ra, circle.dec, *_uniform_in_disk(0.7 * circle.r90_arcsec, rng))
    where = (np.array([position[0]]), np.array([position[1]]))
    star = _copies(truth, np.array([row]), where, np.array([shift]), first_id=10**9)
    star = with_true_vt(star, rng)
    return vstack([sky, star], metadata_conflicts="silent"), position


def _camera_hit(
    family: str, circle: MxtPosition, detector: DetectorModel, rng: np.random.Generator
) -> InjectedSource:
    """Inside the circle, in one camera: a cosmic ray (one sequence, 1-2.5 mag above the limit, often
    with a saturated pixel) or a hot pixel (every sequence of that camera, 0.3-1.5 mag above)."""
    where = offset_position(circle.ra, circle.dec, *_uniform_in_disk(0.7 * circle.r90_arcsec, rng))
    limits = [detector.maglim(step.n_frames) for step in DEFAULT_PLAN]
    nothing = (math.nan,) * N_SEQ_PER_BAND
    if family == "cosmic_ray":
        nth = int(rng.integers(N_SEQ_PER_BAND))
        mags = tuple(
            limits[k] - rng.uniform(1.0, 2.5) if k == nth else math.nan for k in range(N_SEQ_PER_BAND)
        )
        flags = tuple(int(rng.choice((4, 4, 4 | 2, 0, 1))) if k == nth else 0 for k in range(N_SEQ_PER_BAND))
    else:
        height = rng.uniform(0.3, 1.5)
        mags = tuple(limit - height for limit in limits)
        flags = (int(rng.choice((0, 0, 1, 4))),) * N_SEQ_PER_BAND
    in_blue = rng.uniform() < 0.5
    return InjectedSource(
        family,
        where[0],
        where[1],
        nothing if in_blue else mags,
        mags if in_blue else nothing,
        eflag_r=(0,) * N_SEQ_PER_BAND if in_blue else flags,
        eflag_b=flags if in_blue else (0,) * N_SEQ_PER_BAND,
    )


def _flickering_star(
    sky: Table, truth: Table, circle: MxtPosition, detector: DetectorModel, rng: np.random.Generator
) -> tuple[Table, tuple[float, float]]:
    """A real SDSS star copied into the circle within 0.8 mag of the first sequence's 50 % completeness:
    steady, detected or not at each sequence as the completeness allows (catalogued if deep enough)."""
    stars = np.flatnonzero(~np.asarray(truth["EXTENDED"], bool) & np.isfinite(np.asarray(truth["MAG_R"])))
    row = int(rng.choice(stars))
    m50 = detector.maglim(DEFAULT_PLAN[0].n_frames) + detector.completeness_offset_mag
    shift = m50 - rng.uniform(-0.3, 0.8) - float(truth["MAG_R"][row])
    position = offset_position(circle.ra, circle.dec, *_uniform_in_disk(0.7 * circle.r90_arcsec, rng))
    where = (np.array([position[0]]), np.array([position[1]]))
    star = with_true_vt(_copies(truth, np.array([row]), where, np.array([shift]), first_id=2 * 10**9), rng)
    return vstack([sky, star], metadata_conflicts="silent"), position


def _asteroid(ra: float, dec: float, r90: float, rng: np.random.Generator) -> InjectedSource:
    """A main-belt-like asteroid near the circle at T0, VT_R 18-21, solar-like colour."""
    start = offset_position(ra, dec, *_uniform_in_disk(0.7 * r90, rng))
    speed, angle = rng.uniform(*ASTEROID_SPEED), rng.uniform(0.0, 2.0 * math.pi)
    mag_r = rng.uniform(18.0, 21.0)
    return InjectedSource(
        "asteroid",
        start[0],
        start[1],
        (mag_r,) * N_SEQ_PER_BAND,
        (mag_r + 0.9,) * N_SEQ_PER_BAND,
        motion_arcsec_per_h=(speed * math.sin(angle), speed * math.cos(angle)),
    )
