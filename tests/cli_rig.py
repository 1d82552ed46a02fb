"""The command-line tests' shared rig: the packaged SDSS field as a --catalog option, a hand-made source
list, and ``vtac make-qpo-vt`` run in process."""

from __future__ import annotations

from pathlib import Path

import pytest
from astropy.table import Table

from vtac.entrypoints.cli import main as vtac


def handmade_list(path: Path, burst_id: str | None = None, drop: str | None = None) -> Path:
    """A small hand-made ECSV source list of two stars of the packaged field, in R0 and B0."""
    table = Table(
        {
            "SEQ": ["R0", "R0", "B0"],
            "OBJID": [1, 2, 1],
            "RA": [215.6081000, 215.6, 215.6081000],
            "DEC": [53.1000, 53.1, 53.1000],
            "MAGCAL": [19.0, -1.0, 19.4],  # the second row is non-physical: dropped and counted
            "MAGERR": [0.02, 0.02, 0.03],
            "EFLAG": [0, 0, 0],
            "ELLIPTY": [0.05, 0.05, 0.05],
        }
    )
    if burst_id:
        table.meta["BURST_ID"] = burst_id
    table.meta["MAGLIM"] = 22.5
    if drop:
        table.remove_column(drop)
    table.write(path, format="ascii.ecsv", overwrite=True)
    return path


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    """``vtac make-qpo-vt`` with these arguments, in process: exit code, standard output and error."""
    code = vtac(["make-qpo-vt", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err
