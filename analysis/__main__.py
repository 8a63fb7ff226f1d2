"""Command line: ``python -m analysis report|publish|rate ...``.

Exit codes: 0 success (also when some runs failed: the report says so; ``rate``: stopped
with Ctrl-C); 1 bad input (no runs, unreadable source or record; for ``rate`` also no runs
with samples.npz, an unknown sweep, fewer than two configurations for pairs, a port in
use), printed as one line without a traceback; 2 usage errors, and ``publish`` without a
W&B login (offline).
"""

from __future__ import annotations

import argparse
import sys

from analysis.errors import INPUT_ERRORS, NotLoggedInError, RatingError
from analysis.rating.store import MODES, PAIRS, clean_rater
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
                         help=f"bootstrap resamples of the blind ratings' intervals, the one resampling "
                              f"in the analysis (default {RESAMPLES})")
        sub.add_argument("--seed", type=int, default=0, help="seed of that bootstrap (default 0)")
        sub.add_argument("--cache", default=None, help="where W&B images/histories are downloaded")
    rate = commands.add_parser("rate", help="blind ratings of the runs' samples in the browser "
                                            "(answers go to RUNS/ratings.jsonl)")
    rate.add_argument("source", help="runs folder (DIR or DIR/<sweep>)")
    rate.add_argument("--mode", choices=MODES, default=PAIRS,
                      help="pairs: which of two grids looks better; real-or-fake: one image, "
                           "real or generated (default pairs)")
    rate.add_argument("--sweep", default=None, help="rate only this question")
    rate.add_argument("--port", type=_port, default=8765, help="port (default 8765; 0: any free one)")
    rate.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    rate.add_argument("--rater", type=_rater, default=None, help="your name, saved with each answer")
    return parser


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 0 to 65535, got {text!r}")
    return port


def _rater(text: str) -> str:
    try:
        return clean_rater(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _rate(args) -> None:
    """Check the runs, bind the port, print the address, serve until Ctrl-C."""
    from analysis.rating.server import address, make_server
    from analysis.rating.session import RatingSession

    session = RatingSession(args.source, mode=args.mode, sweep=args.sweep, rater=args.rater)
    try:
        server = make_server(session, host=args.host, port=args.port)
    except OSError as err:
        raise RatingError(f"cannot listen on {args.host}:{args.port}: {err.strerror or err}; "
                          f"choose another --port (0: any free one)") from None
    if server.allowed_hosts is None:
        print(f"warning: listening on {args.host}: anyone who can reach this machine can open the "
              f"page and add ratings", file=sys.stderr)
    print(f"Rating page ({args.mode}, {len(session.configurations)} configurations): "
          f"{address(server)}  (answers go to {session.log.path}; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print(f"stopped; {session.answered} answer(s) saved in {session.log.path}")
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "rate":
        try:
            _rate(args)
        except INPUT_ERRORS as err:
            print(f"error: {err}", file=sys.stderr)
            return EXIT_INPUT
        return EXIT_OK
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
            from analysis.report.wandb_report import publish

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
