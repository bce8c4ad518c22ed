"""Command line: `python -m apex_demo score|votes|eval|doctor ...`.

Each subcommand lives in its own module with `add_parser(subparsers)`; its
parser sets `func(args, settings) -> exit code`. Exit codes: 0 ok, 1 some input
failed (the others were still processed), 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from apex_demo.cli import doctor, score, votes
from apex_demo.cli.exits import EXIT_USAGE
from apex_demo.cli import eval as eval_cmd
from apex_demo.config import Settings
from apex_demo.errors import ApexError

SUBCOMMANDS = (score, votes, eval_cmd, doctor)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m apex_demo",
                                     description="Score AI-generated songs with APEX (MERT-v1-95M + APEX head).")
    parser.add_argument("-v", "--verbose", action="store_true", help="log model loading and cache activity")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
        return int(args.func(args, settings))
    except ApexError as exc:  # configuration or model errors that stop the whole command
        print(f"error [{exc.code.value}]: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
