"""The ``vtac`` command: one sub-command per job.

Exit codes: :class:`vtac.entrypoints.exits.ExitCode` (0 done, 1 internal error, 2 bad input or option, 3 an
external service failed: retrying may help).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from vtac.entrypoints import (
    catalog,
    config_command,
    listen,
    make_qpo_vt,
    publish,
    rank,
    schema,
    serve,
    simulate,
)
from vtac.entrypoints.exits import ExitCode
from vtac.errors import VtacError
from vtac.provenance import running_code
from vtac.redaction import redact

log = logging.getLogger("vtac")
_COMMANDS = (make_qpo_vt, rank, simulate, catalog, serve, publish, listen, config_command, schema)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every sub-command."""
    parser = argparse.ArgumentParser(prog="vtac", description="SVOM VT afterglow-candidate service (VTAC).")
    code = running_code()
    parser.add_argument("--version", action="version", version=f"vtac {code.version} (commit {code.commit})")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one sub-command; errors become a one-line message and an exit code, never a traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    try:
        return int(args.run(args))
    except VtacError as error:
        print(redact(f"vtac {args.command}: error: {error}"), file=sys.stderr)
        return ExitCode.RETRY if error.retriable else ExitCode.BAD_INPUT
    except Exception as error:  # pylint: disable=broad-exception-caught  # a bug: say so in one line
        if args.verbose:
            log.exception("internal error")
        print(
            redact(f"vtac {args.command}: internal error: {type(error).__name__}: {error} ")
            + "(run with -v for the traceback)",
            file=sys.stderr,
        )
        return ExitCode.INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
