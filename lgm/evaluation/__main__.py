"""``python -m lgm.evaluation score|compare|stats``: the fixed-classifier numbers for sample files.

    python -m lgm.evaluation score SAMPLES --dataset D [--labels FILE] [--num-samples N]
                                   [--seed S] [--json OUT] [--copies PNG] [--device auto|cpu|cuda]
                                   [--extractor NAME]
    python -m lgm.evaluation compare A B --dataset D [--num-samples N] [--seed S] [--json OUT]
                                   [--device auto|cpu|cuda] [--extractor NAME]
    python -m lgm.evaluation stats SAMPLES --dataset D --out STATS.npz [--labels FILE]
                                   [--num-samples N] [--seed S] [--device auto|cpu|cuda]
                                   [--extractor NAME]

SAMPLES (and A, B): a folder of PNG/JPEG images (searched recursively, sorted by path), a
.npy/.npz array (uint8 0-255 or float 0-1; N×H×W, N×H×W×C or N×C×H×W), a .pt tensor, or a
statistics .npz written by ``stats``. Labels for the conditional metrics: --labels
(.npy/.txt/.csv, in the samples' order) or the .npz's ``labels`` array. compare scores A
with B as the reference (no memorisation metrics: they need the training split).

--extractor: the shipped feature extractor whose space every metric is computed in (default
the primary; another's keys are ``eval/<extractor>/...``, as a study run logs them); a
statistics file records its extractor and is refused by another. Prints a table of every
metric with the classifier's SHA-256 and N; --json writes the same numbers as one flat dict
with the ``eval/...`` keys a study run logs. Bad input: one
``error:`` line and exit status 2, before any embedding; warnings as ``warning:`` lines.
The logic lives in ``lgm.evaluation.scoring`` and ``lgm.evaluation.files``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings

__all__ = ["main"]

EXIT_OK, EXIT_DATA, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """Usage errors as one ``error:`` line and exit status 2."""

    def error(self, message):
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    from lgm.evaluation.evaluator import NUM_SAMPLES
    from lgm.evaluation.registry import EXTRACTORS, PRIMARY_EXTRACTOR

    p = _Parser(prog="python -m lgm.evaluation", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    def common(q, *, labels: bool):
        q.add_argument("--dataset", required=True, help="dataset whose classifier embeds the images")
        if labels:
            q.add_argument("--labels", default=None, help="labels file (.npy/.txt/.csv), one per sample")
        q.add_argument("--num-samples", type=int, default=NUM_SAMPLES,
                       help=f"N: a seeded subset when there are more (default {NUM_SAMPLES})")
        q.add_argument("--seed", type=int, default=0,
                       help="seeds the subset, IS splits and KID subsets (default 0)")
        q.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
        # not argparse choices: an unknown name gets the same one-line refusal as the library's
        q.add_argument("--extractor", default=PRIMARY_EXTRACTOR,
                       help=f"feature extractor: {', '.join(EXTRACTORS)} (default {PRIMARY_EXTRACTOR})")

    what = ("a folder of PNG/JPEG images, a .npy/.npz/.pt array, or a statistics .npz from "
            "'stats'")
    score = sub.add_parser("score", help="all metrics against the dataset's reference")
    score.add_argument("samples", help=what)
    common(score, labels=True)
    score.add_argument("--json", default=None, help="write the numbers as one flat JSON dict")
    score.add_argument("--copies", default=None,
                       help="write a PNG of the samples closest to the training reference")
    compare = sub.add_parser("compare", help="metrics of A with B as the reference")
    compare.add_argument("a", help=f"the set scored: {what}")
    compare.add_argument("b", help="the set in the reference's role (same formats)")
    common(compare, labels=False)
    compare.add_argument("--json", default=None, help="write the numbers as one flat JSON dict")
    stats = sub.add_parser("stats", help="a statistics file that stands in for a set")
    stats.add_argument("samples", help=what)
    common(stats, labels=True)
    stats.add_argument("--out", required=True, help="the .npz to write")
    return p


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        from lgm.evaluation.files import SampleInputError

        raise SampleInputError("--device cuda: this machine has no CUDA device (use auto or cpu)")
    return name


def _finite(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _table(values: dict, dataset: str, extractor: str) -> list[str]:
    """One row per logged key, in registry order, with the direction that is better."""
    from lgm.data import dataset_info
    from lgm.evaluation import registry

    words = {registry.MINIMIZE: "lower", registry.MAXIMIZE: "higher", None: "diagnostic"}
    keys = [k for name in registry.METRICS
            for k in registry.outputs_of(name, num_classes=dataset_info(dataset).num_classes,
                                         extractor=extractor)
            if k in values]
    provenance = {registry.extractor_key(registry.CLASSIFIER_KEY, extractor), registry.NUM_SAMPLES_KEY}
    keys += [k for k in values if k not in keys and k not in provenance]
    width = max(len(k) for k in keys) + 2
    lines = [f"{'metric':<{width}}{'value':>14}  better"]
    for key in keys:
        value = values[key]
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)
        lines.append(f"{key:<{width}}{shown:>14}  {words[registry.known_goal(key)]}")
    if "eval/ct" in values:
        lines.append("eval/ct is the data-copying z-score C_T (Meehan et al. 2020): about 0 for "
                     "samples as novel as held-out data, << 0 copying, >> 0 underfitting")
    return lines


def _report(command: str, what: str, dataset: str, extractor: str, result) -> None:
    from lgm.evaluation import registry

    values = result.values
    sha = values[registry.extractor_key(registry.CLASSIFIER_KEY, extractor)]
    named = "" if extractor == registry.PRIMARY_EXTRACTOR else f" (extractor {extractor})"
    print(f"{command} {what}")
    print(f"dataset {dataset}, classifier{named} SHA-256 {sha}, "
          f"N = {values[registry.NUM_SAMPLES_KEY]}")
    for note in result.notes:
        print(f"  {note}")
    print("\n".join(_table(values, dataset, extractor)))


def _write_json(path: str, values: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump({k: _finite(v) for k, v in values.items()}, f, indent=1)
        f.write("\n")


def _run(args) -> int:
    from lgm.evaluation import scoring

    device = _device(args.device)
    common = {"dataset": args.dataset, "num_samples": args.num_samples, "seed": args.seed,
              "device": device, "extractor": scoring.check_extractor(args.extractor)}
    if args.command == "score":
        result = scoring.score(args.samples, labels=args.labels, copies=args.copies, **common)
        _report("score", args.samples, args.dataset, args.extractor, result)
    elif args.command == "compare":
        result = scoring.compare(args.a, args.b, **common)
        _report("compare", f"{args.a} (B = {args.b} as the reference)", args.dataset,
                args.extractor, result)
    else:
        return _stats(args, device)
    if args.json:
        _write_json(args.json, result.values)
        print(f"wrote {args.json}")
    return EXIT_OK


def _stats(args, device: str) -> int:
    from lgm.evaluation import scoring

    scoring.check_dataset(args.dataset, args.extractor)
    x, notes, _ = scoring.prepare(args.samples, args.dataset, labels=args.labels,
                                   num_samples=args.num_samples, seed=args.seed,
                                   metrics=scoring.SAMPLE_METRICS, progress=None,
                                   extractor=args.extractor)
    if isinstance(x, scoring.EmbeddedSet):
        raise scoring.SampleInputError(f"{args.samples} is a statistics file already")
    embedded = scoring.embed(x, args.dataset, device=device, extractor=args.extractor)
    scoring.write_stats(args.out, embedded)
    for note in notes:
        print(f"  {note}")
    print(f"wrote {args.out}: {len(embedded)} samples of {args.dataset} (features, probabilities"
          f"{', labels' if embedded.labels is not None else ''}, mu, sigma, wavelet statistics), "
          f"extractor {embedded.extractor}, classifier SHA-256 {embedded.sha256}; usable by "
          f"score and compare (with the same --extractor) in place of the set (every metric)")
    return EXIT_OK


def main(argv: list[str]) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help (0) or a usage error (2, already printed)
        return int(done.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    from lgm.data import DataError
    from lgm.evaluation.classifiers import ClassifierWeightsError
    from lgm.evaluation.files import SampleInputError

    seen: dict = {}

    def show(message, category, filename, lineno, file=None, line=None):
        # The first warning of each kind as it happens; repeats (per-class FID at N/K < 128
        # warns once per class) are counted and summed up at the end.
        seen[category] = seen.get(category, 0) + 1
        if seen[category] == 1:
            print(f"warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show
        try:
            return _run(args)
        except (SampleInputError, ClassifierWeightsError) as err:
            print(f"error: {str(err).splitlines()[0]}", file=sys.stderr)
            return EXIT_USAGE
        except DataError as err:
            print(f"error: {str(err).splitlines()[0]}", file=sys.stderr)
            return EXIT_DATA
        finally:
            for category, count in seen.items():
                if count > 1:
                    print(f"warning: ... and {count - 1} more {category.__name__} like it",
                          file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
