"""`doctor`: check that both models load from the configured sources and score a probe; exit 0 or 2."""

from __future__ import annotations

import argparse
import json

from apex_demo.cli.exits import EXIT_OK, EXIT_USAGE
from apex_demo.cli.options import add_model_options, model_settings
from apex_demo.config import Settings



def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("doctor", help="check the models: files, revisions, layout, versions, a probe score",
                       description=__doc__)
    add_model_options(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from apex_demo.engine import format_report, run_doctor

    report = run_doctor(model_settings(args, settings))
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_report(report))
    return EXIT_OK if report.ok else EXIT_USAGE
