"""Which code made a product: the package version (from its installed metadata) and the git commit.

Both go into every product's header and JSON summary, so a product can be traced to the code that made it:
the version alone said 0.1.0 whatever code ran. The commit is the one written into the package when its
wheel was built (the images: ``Dockerfile.core`` writes ``vtac/COMMIT``), else the HEAD of the git checkout
the package is imported from (an editable install), read from ``.git`` without running git; else unknown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

UNKNOWN = "unknown"
COMMIT_FILE = Path(__file__).with_name("COMMIT")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class CodeVersion:
    """The package version and the git commit of the code running."""

    version: str
    commit: str


@lru_cache(maxsize=1)
def running_code() -> CodeVersion:
    """The version and commit of this installation (read once per process)."""
    return CodeVersion(package_version(), source_commit())


def package_version() -> str:
    """The version of the installed ``vtac`` distribution (``pyproject.toml``'s, the one place it is
    written)."""
    try:
        return metadata.version("vtac")
    except metadata.PackageNotFoundError:  # pragma: no cover  # the sources run without being installed
        return "0+unknown"


def source_commit(package_dir: Path = COMMIT_FILE.parent) -> str:
    """The commit written at build time beside the package, else its checkout's HEAD, else ``unknown``."""
    written = package_dir / COMMIT_FILE.name
    if written.is_file() and _COMMIT.match(text := written.read_text(encoding="ascii").strip()):
        return text
    return checkout_head(package_dir.parent) or UNKNOWN


def checkout_head(root: Path) -> str | None:
    """The commit HEAD names in the git checkout (or worktree) at ``root``; None when there is none."""
    git = root / ".git"
    if git.is_file():  # a worktree: "gitdir: <its folder under the main .git>"
        git = (root / git.read_text(encoding="utf-8").removeprefix("gitdir:").strip()).resolve()
    head = git / "HEAD"
    if not head.is_file():
        return None
    text = head.read_text(encoding="utf-8").strip()
    if not text.startswith("ref:"):
        return text if _COMMIT.match(text) else None
    ref = text.removeprefix("ref:").strip()
    common = git / "commondir"
    shared = (git / common.read_text(encoding="utf-8").strip()).resolve() if common.is_file() else git
    for folder in dict.fromkeys((git, shared)):
        loose = folder / ref
        if loose.is_file():
            return loose.read_text(encoding="ascii").strip()
    packed = shared / "packed-refs"
    lines = packed.read_text(encoding="utf-8").splitlines() if packed.is_file() else []
    return next((line.split()[0] for line in lines if line.endswith(f" {ref}")), None)
