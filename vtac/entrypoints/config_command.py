"""``vtac config``: the effective settings and where each comes from, or the check of a TOML file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vtac.entrypoints.exits import ExitCode

# pylint: disable=import-outside-toplevel  # pydantic-settings loads only when this sub-command runs


def add_parser(subparsers: Any) -> None:
    """Register ``vtac config show`` and ``vtac config check``."""
    parser = subparsers.add_parser(
        "config",
        help="show the effective settings or check a settings file",
        description="Settings: defaults < TOML file (VTAC_CONFIG_FILE) < secret files < VTAC_* environment "
        "< command line. Secrets are masked.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="every setting, its value and its source")
    show.add_argument("--file", type=Path, help="TOML file to use instead of VTAC_CONFIG_FILE")
    show.set_defaults(run=run_show)
    check = actions.add_parser("check", help="validate a TOML settings file on its own (exit 2 if unusable)")
    check.add_argument("file", type=Path, help="TOML settings file")
    check.set_defaults(run=run_check)


def run_show(args: argparse.Namespace) -> int:
    """Print ``setting = value  # source`` lines, secrets masked."""
    from vtac.settings import effective_settings

    rows = effective_settings(args.file)
    width = max(len(key) for key, _, _ in rows)
    for key, value, source in rows:
        print(f"{key:<{width}} = {value}  # {source}")
    return ExitCode.OK


def run_check(args: argparse.Namespace) -> int:
    """Load the file alone (defaults below it, no environment); one line either way."""
    from vtac.core.photometry import load_transforms
    from vtac.settings import load_settings

    settings = load_settings(args.file, environment=False)
    load_transforms(settings.science.transforms_file)  # a transforms file it names must be usable
    print(f"{args.file}: ok")
    return ExitCode.OK
