"""The current release, installed once beside the work tree: the baseline of the bench's speed figures.

The release is the CHANGELOG's newest released version, at its tag ``v<version>`` (or, where tags were not
fetched, the commit that set that version in ``pyproject.toml``). Its source is exported with ``git archive``
into ``$VTAC_BENCH_CACHE`` (default ``~/.cache/vtac-bench``) and installed into a virtual environment of its
own, once per commit. When its ``requirements.lock`` is the work tree's, the release's environment borrows
this environment's packages (a ``.pth`` line) and installs only vtac itself, so both run on the same
libraries and only VTAC's own code differs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_RELEASE_HEADING = re.compile(r"^## (\d+\.\d+\.\d+)\b", re.MULTILINE)


@dataclass(frozen=True)
class Release:
    """An installed release: its version, commit and interpreter, and how its settings name things."""

    version: str
    commit: str
    python: Path
    #: Variable that lists the catalogues (VTAC_CATALOGS before the catalogue settings became a section).
    catalogs_variable: str


def released_version(changelog: Path = REPO / "CHANGELOG.md") -> str:
    """The newest version the CHANGELOG lists as released (its first ``## X.Y.Z`` heading)."""
    match = _RELEASE_HEADING.search(changelog.read_text(encoding="utf-8"))
    if match is None:
        raise RuntimeError(f"{changelog.name}: no released version (a '## X.Y.Z' heading)")
    return match.group(1)


def release_commit(version: str) -> str:
    """The commit of release ``version``: its tag, else the commit that set it in pyproject.toml."""
    tagged = _git("rev-parse", "--verify", "--quiet", f"v{version}^{{commit}}", check=False)
    if tagged:
        return tagged
    setting = _git("log", "-1", "--format=%H", f'-Sversion = "{version}"', "--", "pyproject.toml")
    if not setting:
        raise RuntimeError(f"release {version}: no tag v{version} and no commit setting it in pyproject.toml")
    return setting


def installed_release(version: str | None = None) -> Release:
    """The release, installed if it is not yet (about a minute, once per commit)."""
    version = version or released_version()
    commit = release_commit(version)
    root = Path(os.environ.get("VTAC_BENCH_CACHE", Path.home() / ".cache" / "vtac-bench")) / commit[:12]
    python = root / "venv" / "bin" / "python"
    if not (root / "installed").exists():
        _install(commit, root)
    probe = "from vtac.settings import VtacSettings; print('catalogues' in VtacSettings.model_fields)"
    sectioned = _run([str(python), "-c", probe], cwd=root).strip() == "True"
    variable = "VTAC_CATALOGUES__SOURCES" if sectioned else "VTAC_CATALOGS"
    return Release(version, commit, python, variable)


def _install(commit: str, root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
    source = root / "src"
    source.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", commit], cwd=REPO, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    _run([sys.executable, "-m", "venv", str(root / "venv")], cwd=root)
    pip = [str(root / "venv" / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    same_libraries = (source / "requirements.lock").read_bytes() == (REPO / "requirements.lock").read_bytes()
    if same_libraries:
        site = Path(_run([pip[0], "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=root))
        (site.parent / site.name / "vtac-bench-shared.pth").write_text(sysconfig.get_path("purelib") + "\n")
        _run([*pip, "--no-deps", str(source)], cwd=root)
    else:
        _run([*pip, "-c", str(source / "requirements.lock"), str(source)], cwd=root)
    (root / "installed").write_text(commit + "\n")


def _git(*arguments: str, check: bool = True) -> str:
    done = subprocess.run(["git", *arguments], cwd=REPO, capture_output=True, text=True, check=check)
    return done.stdout.strip()


def _run(command: list[str], cwd: Path) -> str:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()
