"""Command line: ``python -m analysis report|publish ...``.

Exit codes: 0 success (also when some runs failed: the report says so); 1 bad input
(no runs, unreadable source or record), printed as one line without a traceback;
2 usage errors, and ``publish`` without a W&B login (offline).
"""

from __future__ import annotations

import argparse
import sys

from analysis.errors import INPUT_ERRORS, NotLoggedInError
from analysis.stats import RESAMPLES

EXIT_OK, EXIT_INPUT, EXIT_OFFLINE, EXIT_USAGE = 0, 1, 2, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analysis",
                                     description="Analyse lgm study runs and report on them.")
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="write report.md and a self-contained report.html")
    report.add_argument("source", help="runs folder (DIR or DIR/<sweep>), entity/project or "
                                       "entity/project/sweeps/<id>")
    report.add_argument("--out", required=True, help="folder for report.md, report.html, figures/")
    publish = commands.add_parser("publish", help="build the report as a W&B Report (needs login)")
    publish.add_argument("source", help="as for report")
    publish.add_argument("--project", required=True, help="W&B project that will hold the report")
    publish.add_argument("--entity", default=None, help="W&B entity (default: your default entity)")
    for sub in (report, publish):
        sub.add_argument("--resamples", type=int, default=RESAMPLES,
                         help=f"bootstrap resamples (default {RESAMPLES})")
        sub.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
        sub.add_argument("--cache", default=None, help="where W&B images/histories are downloaded")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.resamples < 1:
        print(f"error: --resamples must be a positive integer, got {args.resamples}", file=sys.stderr)
        return EXIT_USAGE  # argparse's own usage-error code
    try:
        if args.command == "report":
            from analysis.report import build_report

            paths = build_report(args.source, args.out, cache_dir=args.cache,
                                 resamples=args.resamples, seed=args.seed)
            print(f"wrote {paths['md']} and {paths['html']}")
        else:
            from analysis.publish import publish

            print(publish(args.source, project=args.project, entity=args.entity,
                          cache_dir=args.cache, resamples=args.resamples, seed=args.seed))
    except NotLoggedInError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_OFFLINE
    except INPUT_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INPUT
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
