"""Test helper: run HEASARC fitsverify on a file and return what it found.

``make system-deps`` installs fitsverify; a missing binary fails loudly instead of skipping, so CI can never
pass without having checked the products.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

FITSVERIFY = shutil.which("fitsverify") or "/usr/bin/fitsverify"
_SUMMARY = re.compile(r"\*\*\*\* Verification found (\d+) warning\(s\) and (\d+) error\(s\)")


def fitsverify(path: str | os.PathLike[str]) -> tuple[int, int, str]:
    """(warnings, errors, full report) of ``fitsverify`` on ``path``.

    The counts come from the report's final "Verification found N warning(s) and M error(s)" line; the exit
    status must agree (0 exactly when both counts are 0), otherwise the report is not trusted.
    """
    if not Path(FITSVERIFY).exists():
        raise FileNotFoundError(f"{FITSVERIFY} not found: run `make system-deps` (Debian package fitsverify)")
    completed = subprocess.run(
        [FITSVERIFY, os.fspath(path)], capture_output=True, text=True, check=False, timeout=60
    )
    output = completed.stdout + completed.stderr
    match = _SUMMARY.search(output)
    if match is None:
        raise AssertionError(f"fitsverify printed no summary line for {path}:\n{output}")
    warnings, errors = int(match.group(1)), int(match.group(2))
    if (completed.returncode == 0) != (warnings + errors == 0):
        raise AssertionError(
            f"fitsverify exit status {completed.returncode} contradicts its summary:\n{output}"
        )
    return warnings, errors, output
