"""``vtac schema --out DIR``: the JSON Schemas of the service's messages and of the JSON summary (the
contract of docs/ICD.md), generated from their pydantic models; ``schemas/`` holds the published copies."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from vtac.entrypoints.exits import ExitCode

# Service modules (pika, pydantic, drivers) load only when this sub-command runs: `vtac` stays fast.
# pylint: disable=import-outside-toplevel


def add_parser(subparsers: Any) -> None:
    """Register ``vtac schema``."""
    parser = subparsers.add_parser(
        "schema",
        help="write the JSON Schemas of the AMQP messages and of the JSON summary",
        description="Write one JSON Schema (draft 2020-12) per message and for the JSON summary, "
        "NAME.schema.json, into DIR (`vtac schema --out schemas` refreshes the published copies).",
    )
    parser.add_argument("--out", type=Path, default=Path("."), metavar="DIR", help="output directory")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Write the schemas and print their paths."""
    args.out.mkdir(parents=True, exist_ok=True)
    for stem, schema in json_schemas().items():
        path = args.out / f"{stem}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(path)
    return ExitCode.OK


def json_schemas() -> dict[str, dict[str, Any]]:
    """Every published JSON Schema, by file stem."""
    from vtac.adapters.summary import summary_json_schema
    from vtac.service.messages import message_json_schemas

    return {**message_json_schemas(), "qpo_vt_summary": summary_json_schema()}
