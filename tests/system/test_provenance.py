"""Which code made a product: the commit the build wrote into the package, else the checkout's HEAD."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from astropy.io import fits
from cli_rig import handmade_list
from paths import REPO, SDSS

from vtac.entrypoints.cli import main as vtac
from vtac.provenance import UNKNOWN, checkout_head, package_version, running_code, source_commit

pytestmark = pytest.mark.subprocess

COMMIT = "0123456789abcdef0123456789abcdef01234567"
OTHER = "89abcdef0123456789abcdef0123456789abcdef"


def git_head() -> str:
    git = shutil.which("git")
    if git is None:  # pragma: no cover  # every machine that runs the suite has git
        pytest.fail("git is needed to check the commit read from .git")
    return subprocess.run(
        [git, "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_the_commit_of_this_checkout_is_its_head():
    assert checkout_head(REPO) == git_head()
    assert running_code().commit == git_head()


def test_a_commit_written_into_the_package_wins_over_the_checkout(tmp_path):
    package = tmp_path / "vtac"
    package.mkdir()
    (package / "COMMIT").write_text(COMMIT + "\n", encoding="ascii")
    assert source_commit(package) == COMMIT
    (package / "COMMIT").write_text("unknown\n", encoding="ascii")  # an image built without the argument
    assert source_commit(package) == UNKNOWN


@pytest.mark.parametrize("layout", ["loose ref", "packed ref", "detached", "worktree"])
def test_head_is_read_from_every_git_layout(tmp_path, layout):
    git = tmp_path / "main" / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    root = git.parent
    if layout == "loose ref":
        (git / "refs" / "heads" / "main").write_text(COMMIT + "\n")
    elif layout == "packed ref":
        (git / "packed-refs").write_text(
            f"# pack-refs with: peeled\n{OTHER} refs/heads/other\n{COMMIT} refs/heads/main\n"
        )
    elif layout == "detached":
        (git / "HEAD").write_text(COMMIT + "\n")
    else:  # a worktree: .git is a file naming its folder, whose refs live in the main repository
        (git / "refs" / "heads" / "topic").write_text(COMMIT + "\n")
        folder = git / "worktrees" / "topic"
        folder.mkdir(parents=True)
        (folder / "HEAD").write_text("ref: refs/heads/topic\n")
        (folder / "commondir").write_text("../..\n")
        root = tmp_path / "topic"
        root.mkdir()
        (root / ".git").write_text(f"gitdir: {folder}\n")
    assert checkout_head(root) == COMMIT
    assert source_commit(root / "vtac") == COMMIT


def test_without_any_git_the_commit_is_unknown(tmp_path):
    assert source_commit(tmp_path / "vtac") == UNKNOWN


def test_every_product_and_the_version_option_name_the_version_and_the_commit(tmp_path, capsys):
    srclist = handmade_list(tmp_path / "list.ecsv", burst_id="sb26112309")
    assert (
        vtac(
            [
                "make-qpo-vt",
                "--srclist",
                str(srclist),
                "--catalog",
                SDSS,
                "--out",
                str(tmp_path),
                "--no-extras",
            ]
        )
        == 0
    )
    code = running_code()
    assert code.version == package_version() != ""
    for name in ("QPO_VT_sb26112309.fits", "QCANDI_VT_sb26112309.fits"):
        header = fits.getheader(tmp_path / name)
        assert (header["PIP_VER"], header["VTACCOMM"]) == (code.version, git_head())
    summary = json.loads((tmp_path / "QPO_VT_sb26112309.json").read_text(encoding="utf-8"))
    assert (summary["version"], summary["commit"]) == (code.version, git_head())
    capsys.readouterr()
    with pytest.raises(SystemExit):
        vtac(["--version"])
    assert capsys.readouterr().out.strip() == f"vtac {code.version} (commit {git_head()})"


def test_the_installed_version_is_the_newest_release_of_the_changelog():
    """A release bumps the version and gets its CHANGELOG section in the same commit (then the tag)."""
    releases = re.findall(r"^## (\d+\.\d+\.\d+)\b", (REPO / "CHANGELOG.md").read_text(encoding="utf-8"), re.M)

    assert releases and releases[0] == package_version()
