"""``vtac make-qpo-vt --catalog PS1DR1=vizier`` against a local server answering like VizieR's II/349/ps1.

The answer follows the real VizieR ASU VOTable of the SDSS12 sample (same prelude, FIELD style, TABLEDATA and
trailing INFO), with the PS1 columns; its rows are the real SDSS sources of the packaged field with their
g, r, i, z (PS1 and SDSS agree to a few hundredths there) and y = z - 0.1.
"""

import json

import numpy as np
import pytest
from vizier_answers import _OBJID_FIELD, _R_FIELD, TEMPLATE, _field, _td, cone_rows, requested_cone
from werkzeug import Request, Response

from vtac.core.sky import separation_arcsec
from vtac.entrypoints.cli import main as vtac
from vtac.simulation.burst import simulate_burst
from vtac.simulation.sky import DEMO_CENTRE, afterglow_burst_spec, load_demo_sky

PS1_BANDS = "grizy"


def _renamed(source, name):
    return _field(source).replace(f'name="{source}"', f'name="{name}"', 1)


def ps1_votable(rows):
    prelude = TEMPLATE[: TEMPLATE.index("    <!-- Definitions of GROUPs and FIELDs -->")]
    fields = _R_FIELD + _OBJID_FIELD + _renamed("RA_ICRS", "RAJ2000") + _renamed("DE_ICRS", "DEJ2000")
    for band in PS1_BANDS:
        source = "z" if band == "y" else band
        fields += _renamed(f"{source}mag", f"{band}mag") + _renamed(f"e_{source}mag", f"e_{band}mag")
    lines = []
    for row in rows:
        cells = [
            _td(float(row["_r"]), "7.4f"),
            str(row["objID"]),
            _td(float(row["RA_ICRS"]), "010.6f"),
            _td(float(row["DE_ICRS"]), "+010.6f"),
        ]
        for band in PS1_BANDS:
            mag = float(row["zmag"]) - 0.1 if band == "y" else float(row[f"{band}mag"])
            err = float(row["e_zmag" if band == "y" else f"e_{band}mag"])
            cells += [_td(mag, ".4f"), _td(err, ".4f")]
        lines.append("<TR>" + "".join(f"<TD>{cell}</TD>" for cell in cells) + "</TR>")
    body = (
        prelude
        + "    <!-- Definitions of GROUPs and FIELDs -->\n"
        + fields
        + "<DATA><TABLEDATA>\n"
        + "\n".join(lines)
        + "\n</TABLEDATA></DATA>\n</TABLE>\n"
        + f'<INFO name="matches" value="{len(rows)}">matching records</INFO>\n</RESOURCE>\n</VOTABLE>\n'
    )
    body = body.replace('<RESOURCE ID="yCat_5147" name="V/147">', '<RESOURCE ID="yCat_2349" name="II/349">')
    return body.replace(
        '<TABLE ID="V_147_sdss12" name="V/147/sdss12">', '<TABLE ID="II_349_ps1" name="II/349/ps1">'
    ).encode()


@pytest.mark.slow
def test_make_qpo_vt_with_ps1_from_vizier_ranks_the_afterglow_first(
    tmp_path, httpserver, monkeypatch, capsys
):
    asked = []

    def answer(request: Request) -> Response:
        asked.append(request.args["-source"])
        rows, _ = cone_rows(requested_cone(request))
        return Response(ps1_votable(rows), content_type="application/x-votable+xml")

    httpserver.expect_request("/viz-bin/votable").respond_with_handler(answer)
    monkeypatch.setenv("VTAC_CATALOGUES__SERVICES__VIZIER_URL", httpserver.url_for("/"))
    ra, dec = DEMO_CENTRE[0] + 0.05, DEMO_CENTRE[1] - 0.04
    spec = afterglow_burst_spec(ra, dec, "sb26050905", half_width_arcmin=4.0, mxt_r90_arcsec=60.0)
    paths = simulate_burst(load_demo_sky(), spec, np.random.default_rng(21)).write(tmp_path / "in")
    code = vtac(
        [
            "make-qpo-vt",
            "--srclist",
            str(paths["srclist_R"]),
            "--srclist",
            str(paths["srclist_B"]),
            "--mxt",
            str(paths["mxt"]),
            "--catalog",
            "PS1DR1=vizier",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "out" / "QPO_VT_sb26050905.json").read_text())
    assert asked == ["II/349/ps1"]
    assert summary["catalogs"][0]["name"] == "PS1DR1" and summary["catalogs"][0]["status"] == "ok"
    assert summary["catalogs"][0]["n_sources"] > 100
    first = summary["candidates"][0]
    assert float(separation_arcsec(first["ra"], first["dec"], ra, dec)) < 1.5
    assert first["new_src"] and first["vt_id"] in summary["best_candidates"]
