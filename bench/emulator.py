"""A local stand-in for the remote catalogues: VizieR's ASU cone and Data Lab's TAP sync, in their formats.

Answers are VizieR ASU VOTables (the prelude and FIELD definitions of the real SDSS DR12 answer in
``tests/data/providers_vizier_sdss12.vot``, the columns the request names in ``-out``) and TAP VOTables
(``RESOURCE type="results"``, ``INFO QUERY_STATUS``, Tractor columns), with the rows of the packaged SDSS
field. Every burst of the bench lies on its own patch of sky: the field is rotated onto target ``k``
(:func:`rotation`), and a cone near target ``k`` is answered from the field rotated there, so no burst's
cone is another's cache hit. Each cone takes ``latency_s`` (uniform), and a fraction ``p_503`` is answered
503 at once, as an overloaded proxy does (the clients retry with backoff).
"""

from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
from astropy.table import Table

from vtac.simulation.sky import DEMO_CENTRE, data_path

TEMPLATE = (
    Path(__file__).resolve().parents[1] / "tests" / "data" / "providers_vizier_sdss12.vot"
).read_text()
_SDSS_BAND = {"u": "u", "g": "g", "r": "r", "i": "i", "z": "z", "y": "z", "G": "r", "BP": "g", "RP": "i"}
_SDSS_BAND |= {"B1": "g", "B2": "g", "R1": "r", "R2": "r", "I": "i"}


def unit(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """Unit vectors of positions in degrees (n x 3)."""
    ra, dec = np.radians(ra), np.radians(dec)
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)


def radec(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Degrees from unit vectors."""
    return np.degrees(np.arctan2(xyz[..., 1], xyz[..., 0])) % 360.0, np.degrees(np.arcsin(xyz[..., 2]))


def rotation(target: tuple[float, float]) -> np.ndarray:
    """The rotation taking the demo field's centre onto ``target`` (Rodrigues, about their common normal)."""
    a, b = (
        unit(np.array(DEMO_CENTRE[0]), np.array(DEMO_CENTRE[1])),
        unit(np.array(target[0]), np.array(target[1])),
    )
    axis = np.cross(a, b)
    sin, cos = float(np.linalg.norm(axis)), float(a @ b)
    if sin < 1e-12:
        return np.eye(3)
    k = axis / sin
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + sin * cross + (1 - cos) * cross @ cross


def rotate(matrix: np.ndarray, ra: np.ndarray, dec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions moved by a rotation."""
    return radec(unit(np.asarray(ra, float), np.asarray(dec, float)) @ matrix.T)


@dataclass
class Emulator:
    """The two services on one local port; ``targets`` are the bursts' patches of sky."""

    targets: list[tuple[float, float]]
    latency_s: tuple[float, float] = (2.0, 6.0)
    p_503: float = 0.05
    seed: int = 12
    requests: int = 0
    refused: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._sky = Table.read(data_path("sdss12_egs_1deg.fits"))
        self._xyz = unit(np.asarray(self._sky["RA_ICRS"]), np.asarray(self._sky["DE_ICRS"]))
        self._rotations = [rotation(target) for target in self.targets]
        self._centres = unit(*np.array(self.targets).T)
        self._random = random.Random(self.seed)
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        """Serve on a free port (daemon threads); the base URL."""
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's name
                emulator.answer(self, parse_qs(urlsplit(self.path).query), vizier=True)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                emulator.answer(self, parse_qs(self.rfile.read(length).decode()), vizier=False)

            def log_message(self, *args) -> None:  # quiet
                del args

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_port}"

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def answer(self, handler: BaseHTTPRequestHandler, query: dict[str, list[str]], *, vizier: bool) -> None:
        """503 at once for a few, else the cone's rows after the latency."""
        with self._lock:
            self.requests += 1
            refuse = self._random.random() < self.p_503
            delay = self._random.uniform(*self.latency_s)
            self.refused += refuse
        if refuse:
            self._send(handler, 503, b"Service Temporarily Unavailable", "text/plain")
            return
        time.sleep(delay)
        if vizier:
            ra, dec = (float(value) for value in query["-c"][0].split())
            columns = query["-out"][0].split(",")
            rows = self._cone(ra, dec, float(query["-c.rs"][0]) / 3600.0)
            self._send(handler, 200, vizier_votable(rows, columns), "application/x-votable+xml")
        else:
            found = re.search(r"CIRCLE\('ICRS', ([-\d.]+), ([-\d.]+), ([\d.]+)\)", query["QUERY"][0])
            assert found is not None
            ra, dec, radius = (float(value) for value in found.groups())
            self._send(handler, 200, tap_votable(self._cone(ra, dec, radius)), "application/x-votable+xml")

    def _cone(self, ra: float, dec: float, radius_deg: float) -> Table:
        """The field's rows in the cone, on the patch of sky of the nearest target, with ``_r`` (arcmin)."""
        centre = unit(np.array(ra), np.array(dec))
        matrix = self._rotations[int(np.argmax(self._centres @ centre))]
        local = centre @ matrix  # the cone's centre back on the packaged field
        cosine = self._xyz @ local
        inside = cosine >= np.cos(np.radians(radius_deg))
        rows = self._sky[inside]
        rows["RA_ICRS"], rows["DE_ICRS"] = radec(self._xyz[inside] @ matrix.T)
        rows["_r"] = np.degrees(np.arccos(np.clip(cosine[inside], -1, 1))) * 60.0
        return rows

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, kind: str) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", kind)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:  # the client gave up (deadline): nothing to do
            pass


def _template_field(name: str) -> str | None:
    found = re.search(rf'    <FIELD name="{re.escape(name)}".*?</FIELD>\n', TEMPLATE, re.DOTALL)
    return found.group(0) if found else None


def _value(rows: Table, name: str) -> tuple[list[str], str]:
    """The cells of one requested VizieR column and its datatype, from the SDSS rows."""
    if name in ("RA_ICRS", "RAJ2000"):
        return [f"{value:010.6f}" for value in rows["RA_ICRS"]], "double"
    if name in ("DE_ICRS", "DEJ2000"):
        return [f"{value:+010.6f}" for value in rows["DE_ICRS"]], "double"
    if name in ("objID", "Source"):
        return [str(value) for value in rows["objID"]], "long"
    if name == "USNO-B1.0":
        return [f"{value % 1800:04d}-{value % 9999999:07d}" for value in rows["objID"]], "char"
    if name == "class":
        return [str(value) for value in rows["class"]], "unsignedByte"
    if name in ("pmRA", "pmDE"):
        return ["0.0"] * len(rows), "double"
    if name == "Epoch":
        return ["2016.0"] * len(rows), "double"
    error = name.startswith("e_")
    band = _SDSS_BAND[name.removeprefix("e_").removesuffix("mag")]
    values = rows[f"e_{band}mag" if error else f"{band}mag"]
    return ["" if not np.isfinite(value) else f"{value:.3f}" for value in values], "double"


def vizier_votable(rows: Table, columns: list[str]) -> bytes:
    """A VizieR ASU answer: the real template's prelude and FIELDs, ``_r`` first, the rows nearest first."""
    rows = rows[np.argsort(rows["_r"])]
    cells = [[f"{value:7.4f}" for value in rows["_r"]]]
    fields = ['    <FIELD name="_r" ucd="pos.angDistance" datatype="double" unit="arcmin"/>\n']
    for name in columns:
        values, kind = _value(rows, name)
        cells.append(values)
        size = ' arraysize="*"' if kind == "char" else ""
        fields.append(_template_field(name) or f'    <FIELD name="{name}" datatype="{kind}"{size}/>\n')
    lines = [
        "<TR>" + "".join(f"<TD>{cell}</TD>" for cell in row) + "</TR>" for row in zip(*cells, strict=True)
    ]
    prelude = TEMPLATE[: TEMPLATE.index("    <!-- Definitions of GROUPs and FIELDs -->")]
    return (
        prelude
        + "    <!-- Definitions of GROUPs and FIELDs -->\n"
        + "".join(fields)
        + "<DATA><TABLEDATA>\n"
        + "\n".join(lines)
        + "\n</TABLEDATA></DATA>\n</TABLE>\n"
        + f'<INFO name="matches" value="{len(rows)}">matching records</INFO>\n'
        + "</RESOURCE>\n</VOTABLE>\n"
    ).encode()


def tap_votable(rows: Table) -> bytes:
    """A TAP sync answer (the Gaia archive's layout) with Tractor columns: fluxes in nanomaggies."""
    names = ["ls_id", "ra", "dec", "ref_epoch", "pmra", "pmdec"]
    names += [f"{kind}_{band}" for band in "griz" for kind in ("flux", "flux_ivar")]
    kinds = ["long", "double", "double"] + ["float"] * (len(names) - 3)
    fields = "\n".join(
        f'<FIELD name="{name}" datatype="{kind}"/>' for name, kind in zip(names, kinds, strict=True)
    )
    columns = [[str(v) for v in rows["objID"]], [f"{v:.7f}" for v in rows["RA_ICRS"]]]
    columns += [[f"{v:.7f}" for v in rows["DE_ICRS"]]] + [["2016.0"] * len(rows)] + [["0.0"] * len(rows)] * 2
    for band in "griz":
        flux = 10.0 ** ((22.5 - np.asarray(rows[f"{band}mag"], float)) / 2.5)
        ivar = (1.0857362 / (flux * np.asarray(rows[f"e_{band}mag"], float))) ** 2
        good = np.isfinite(flux * ivar)
        columns.append([f"{f:.6g}" if ok else "NaN" for f, ok in zip(flux, good, strict=True)])
        columns.append([f"{v:.6g}" if ok else "NaN" for v, ok in zip(ivar, good, strict=True)])
    lines = ["<TR>" + "".join(f"<TD>{c}</TD>" for c in row) + "</TR>" for row in zip(*columns, strict=True)]
    return (
        '<?xml version="1.0"?>\n<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">\n'
        '<RESOURCE type="results">\n<INFO name="QUERY_STATUS" value="OK"/>\n'
        f"<TABLE>\n{fields}\n<DATA><TABLEDATA>\n" + "\n".join(lines) + "\n</TABLEDATA></DATA>\n</TABLE>\n"
        "</RESOURCE>\n</VOTABLE>\n"
    ).encode()
