"""``vtac schema --out DIR``: the JSON Schemas of the service's messages (the contract of docs/ICD.md)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

# Service modules (pika, pydantic, drivers) load only when this sub-command runs: `vtac` stays fast.
# pylint: disable=import-outside-toplevel

EXIT_OK = 0


def add_parser(subparsers: Any) -> None:
    """Register ``vtac schema``."""
    parser = subparsers.add_parser(
        "schema",
        help="write the JSON Schemas of the AMQP messages",
        description="Write one JSON Schema (draft 2020-12) per message, NAME.schema.json, into DIR.",
    )
    parser.add_argument("--out", type=Path, default=Path("."), metavar="DIR", help="output directory")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Write the schemas and print their paths."""
    from vtac.service.messages import message_json_schemas

    args.out.mkdir(parents=True, exist_ok=True)
    for stem, schema in message_json_schemas().items():
        path = args.out / f"{stem}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(path)
    return EXIT_OK
