"""``python -m study settle``: spend training where a question's verdict is still open.

    python -m study settle SWEEP... --out DIR --max-minutes M [--max-seeds S]
                           [--max-budget-factor F] [--workers N] [--set KEY=VALUE ...]
                           [--retry-failed]

Round 0 runs each sweep's compared configurations (for a pairwise prediction its two values,
otherwise the whole grid) with the local runner, as ``python -m study sweep`` would. Then,
round by round, every open sweep is analysed (``analysis.sweep_analysis.analyse_sweep`` on the runs
of its current budget factor and seeds) and a *decision rule* says what to do
(``analysis.settle_rule.settle_decision``: settled, or extend, or add seeds):

- extend: every compared configuration (for a pairwise prediction the two compared values
  of its parameter, otherwise every value) is trained twice as long, all by the same factor,
  so a comparison matched in wall-clock stays matched. A run at ``budget_factor`` 2F
  continues the finished run at F from its final training state (``study.reuse``): only the
  extra steps are trained.
- add seeds: new seeds (after the largest one) for every compared configuration, at the
  current factor.
- stop when every sweep is settled, when the next round would pass ``--max-minutes`` (this
  call's wall-clock, measured from its start) or a cap on seeds or budget factor, or when a
  sweep has had its last look. Then print, per open sweep, the step the rule asks for next
  and its estimated cost.

Costs are estimated from the records of finished runs (``study.settle_costs``: seconds per
training step, and the rest of a run's wall-clock, per configuration). Before each round the
plan, its estimate and an ETA are printed.

Every round of a sweep is recorded in ``DIR/<sweep>/settle.json`` (``contracts.record``:
atomic writes): what was added and why, the estimate and what it took, the verdict after it.
A round is written as ``planned`` before its runs start and ``done`` after its analysis, so a
settle stopped by Ctrl-C or kill -9 resumes the planned round on the next call (finished runs
are skipped, interrupted ones resume from their checkpoint) and never redoes a done round.
A round with failed runs is not looked at: its sweep stops there, in that call and in later
ones (exit status 1), until ``--retry-failed`` runs them again; the complete round then gets
its one look (what the round ran before is kept under ``earlier``).

Looks: the rule sees each analysis as one look (``look`` = 1, 2, ...) out of at most
``max_looks`` = 1 + log2(max budget factor) + 1 (when seeds may be added): every round
doubles the factor or adds seeds, and seeds are added in one round only (as many as the rule
asks for, up to ``--max-seeds``), so no sweep is ever looked at more often. Few looks matter:
the rule spends its error rate over them (``analysis.settle_rule``).

Imports: ``study`` never imports ``analysis`` — except here, lazily, inside functions: the
loop closes here (runs → analysis → decision → runs). Nothing else in ``study`` does.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import time
from pathlib import Path

from contracts.record import FINISHED, RecordError, read_record, utc_now, write_settle
from study.config import RunConfig
from study.settle_costs import CostModel, describe_steps, minutes, plan_costs, wall_seconds
from study.settle_state import (DEFAULT_CAPS, GROWTH, Caps, SettleError, SweepState, max_looks,
                                prepare, resolve_sweep_path)
from study.sweepfile import Sweep

__all__ = ["Caps", "SettleError", "settle", "resolve_sweep_path", "max_looks", "DEFAULT_CAPS",
           "GROWTH"]

# --------------------------------------------------------------------------- one round

def settle_runner(executor):
    """The runner of a settle whose runs execute on ``executor`` (``study.executors``: local
    processes or Slurm jobs); ``workers`` then only sizes the cost estimates."""
    from study.runner import run_sweep

    return lambda sweep, out, *, workers, retry_failed=False: run_sweep(
        sweep, out, executor=executor, retry_failed=retry_failed)


def _runner(sweep: Sweep, out: Path, *, workers: int, retry_failed: bool = False):
    """The one call of the local runner (an executor option passes through here)."""
    from study.runner import run_sweep

    return run_sweep(sweep, out, workers=workers, retry_failed=retry_failed)


def _rule():
    """The decision rule, imported lazily (see the module docstring)."""
    try:
        from analysis.settle_rule import settle_decision
    except ImportError as err:
        raise SettleError(f"the settle rule analysis.settle_rule.settle_decision is not "
                          f"available ({err})") from None
    return settle_decision


def analyse(state: SweepState, out: Path):
    """``analysis.sweep_analysis.analyse_sweep`` of the state's runs: its compared configurations at
    its current budget factor and seeds (runs of earlier factors stay on disk, unanalysed)."""
    from analysis.errors import NoRunsError
    from analysis.load import at_budget, load_runs, load_sweep_spec
    from analysis.sweep_analysis import analyse_sweep

    try:
        runs = load_runs(out / state.name)
    except NoRunsError:
        return None
    runs = at_budget(runs, budget_factor=state.factor, seeds=state.seeds)
    if state.compared:
        runs = runs[runs[state.sweep.spec.prediction.parameter].isin(state.compared)]
    if runs.empty:
        return None
    return analyse_sweep(runs, load_sweep_spec(out, state.name))


DECISION_FIELDS = ("settled", "verdict", "extend", "add_seeds", "reason", "procedure")


def _conclude(state: SweepState, out: Path, decide) -> dict:
    """Analyse the state, ask the rule, close the state when nothing more may be asked;
    returns what the round record keeps about it."""
    analysis = analyse(state, out)
    done = sum(1 for r in state.record["rounds"] if r["status"] == "done")
    look, limit = max(1, done), state.max_looks
    if analysis is None:
        state.decision, state.closed = None, "no finished runs to analyse"
        return {"verdict": None, "settled": False, "look": look}
    state.decision = decide(analysis, look=look, max_looks=limit)
    decision = {k: getattr(state.decision, k, None) for k in DECISION_FIELDS}
    if decision["settled"]:
        state.closed = "settled"
    elif look >= limit:
        state.closed = f"last look ({look} of {limit})"
    fixed = analysis.result.verdict if analysis.result is not None else None
    return {"verdict": decision["verdict"], "settled": bool(decision["settled"]),
            "provisional": bool(analysis.provisional), "fixed_design_verdict": fixed,
            "decision": decision, "look": look, "max_looks": limit}


def _label(state: SweepState, config: RunConfig) -> str:
    prediction = state.sweep.spec.prediction
    names = [n for n in (prediction.parameter, prediction.group_by) if n]
    return ", ".join(f"{n}={getattr(config, n)}" for n in names)


def _round_entry(state: SweepState, *, added: str, why: str, estimate: float | None) -> dict:
    configs = state.configs()
    return {"round": len(state.record["rounds"]), "status": "planned", "budget_factor": state.factor,
            "seeds": list(state.seeds), "steps": {_label(state, c): c.train_steps for c in configs},
            "runs": len(configs), "added": added, "why": why, "estimate_s": estimate,
            "planned_at": utc_now()}


def _run_round(states: list[SweepState], out: Path, *, workers: int, runner, decide, clock,
               echo, retry_failed: bool = False) -> int:
    """Run the planned rounds of ``states`` (their last record entry), analyse, record them
    done; returns 0, 1 (runs failed) or 130 (interrupted: the rounds stay planned)."""
    started, code = clock(), 0
    for state in states:
        report = runner(state.round_sweep(), out, workers=workers, retry_failed=retry_failed)
        echo(report.line(state.name, out))
        entry = state.record["rounds"][-1]
        entry["run_seconds"] = round(sum(report.run_seconds.values()), 1)
        entry["trained"] = len(report.done) - len(report.reused)
        entry["failed"] = [rid for rid, _ in report.failed] + list(report.skipped_failed)
        if report.interrupted:
            return 130
        if entry["failed"]:
            code = 1
    seconds = clock() - started
    for state in states:
        entry = state.record["rounds"][-1]
        entry.update(status="done", seconds=round(seconds, 1), finished_at=utc_now())
        failed = _close_if_incomplete(state, entry, out)
        if failed:  # no look: the rule never sees a round with runs missing
            entry.update(verdict=None, settled=False, incomplete=failed)
            echo(f"  {state.name}: not looked at - {state.closed}")
        else:
            entry.pop("incomplete", None)
            entry.update(_conclude(state, out, decide))
            echo(f"  {state.name}: {entry['verdict']}" + (" (settled)" if entry["settled"] else "")
                 + (f" - {getattr(state.decision, 'reason', '')}" if state.decision else ""))
        write_settle(out / state.name, state.record)
    return code


def _still_failed(state: SweepState, entry: dict, out: Path) -> list[str]:
    """The round's failed runs that have not finished since (read from their records)."""
    still = []
    for rid in entry.get("failed") or []:
        try:
            record = read_record(out / state.name / rid)
        except RecordError:
            record = None
        if (record or {}).get("status") != FINISHED:
            still.append(rid)
    return still


def _close_if_incomplete(state: SweepState, entry: dict, out: Path) -> list[str]:
    """A round whose failed runs have not finished since is not looked at: its sweep is
    closed — in the call that ran it and in every later call — until the same command with
    ``--retry-failed`` runs them again; then the complete round gets its one look. (A look
    at a round with runs missing would spend error rate on the wrong data and could settle
    on it.) Returns the failed run ids (empty: the round is complete)."""
    failed = _still_failed(state, entry, out)
    if failed:
        state.decision = None
        state.closed = (f"{len(failed)} run(s) failed in round {entry['round']} (see their "
                        f"run.log); the same settle command with --retry-failed runs them again, "
                        f"resuming from their checkpoints")
    return failed


def _reopen_failed(states: list[SweepState], out: Path) -> set[str]:
    """``--retry-failed``: a done round whose failed runs have not finished is planned again
    (what it ran before kept under ``earlier``); returns the reopened sweeps' names."""
    reopened = set()
    for state in states:
        entry = state.record["rounds"][-1] if state.record["rounds"] else None
        if entry and entry["status"] == "done" and _still_failed(state, entry, out):
            earlier = {k: entry.get(k) for k in ("failed", "trained", "run_seconds", "seconds",
                                                 "finished_at")}
            entry.setdefault("earlier", []).append(earlier)
            entry.update(status="planned", retried=int(entry.get("retried", 0)) + 1)
            reopened.add(state.name)
    return reopened


# --------------------------------------------------------------------------- the loop

def _next(state: SweepState, caps: Caps | None) -> list[tuple[int, list, str]]:
    """What the rule's decision asks for, as (factor, seeds, what) variants, best first: the
    whole request, then its extension alone, then its seeds alone; ``caps=None``: uncapped.
    Seeds are added in one round only (see the module docstring on looks)."""
    decision, factor, seeds = state.decision, state.factor, list(state.seeds)
    longer = factor * GROWTH if getattr(decision, "extend", False) else factor
    if caps is not None and longer > caps.max_budget_factor:
        longer = factor
    wanted = int(getattr(decision, "add_seeds", 0) or 0)
    if caps is not None:
        wanted = 0 if len(seeds) > state.initial_seeds else min(wanted, caps.max_seeds - len(seeds))
    room = max(0, wanted)
    more = seeds + list(range(max(seeds) + 1, max(seeds) + 1 + room))
    variants = []
    for f, s in ((longer, more), (longer, seeds), (factor, more)):
        if (f, s) != (factor, seeds) and (f, s) not in [(v[0], v[1]) for v in variants]:
            parts = ([f"budget x{factor} -> x{f}"] if f != factor else []) + \
                    ([f"seeds {len(seeds)} -> {len(s)}"] if len(s) != len(seeds) else [])
            variants.append((f, s, ", ".join(parts)))
    return variants


def _moved(state: SweepState, factor: int, seeds: list) -> SweepState:
    return dataclasses.replace(state, factor=factor, seeds=list(seeds))


def _choose(states: list[SweepState], out: Path, *, caps: Caps, workers: int, left: float,
            model: CostModel) -> list[tuple[SweepState, tuple, float]]:
    """The next round: per open sweep the first variant of its request that fits the time
    left beside those chosen before it; a sweep with none is closed (a cap)."""
    chosen, accepted = [], []
    for state in states:
        variants = _next(state, caps)
        if not variants:
            state.closed = ("the rule asks for nothing more" if not _next(state, None) else
                            f"the rule asks for more than the caps allow (--max-budget-factor "
                            f"{caps.max_budget_factor}, --max-seeds {caps.max_seeds})")
            continue
        for factor, seeds, what in variants:
            moved = _moved(state, factor, seeds)
            planned = plan_costs([(m.name, m.configs()) for m in accepted + [moved]], out, model)
            total = wall_seconds(planned, workers) if planned else 0.0
            if total <= left:
                accepted.append(moved)
                chosen.append((state, (factor, seeds, what), total))
                break
        else:
            state.closed = f"its next round does not fit in --max-minutes {caps.max_minutes:g}"
    return chosen


def _eta(seconds: float) -> str:
    when = _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(seconds=seconds)
    return when.strftime("%H:%M UTC")


def _print_plan(number: int, chosen, *, estimate: float, spent: float, caps: Caps, workers: int,
                echo) -> None:
    echo(f"== settle round {number}: estimated {minutes(estimate)} on {workers} worker(s), "
         f"ETA {_eta(estimate)}; spent {minutes(spent)} of {caps.max_minutes:g} min ==")
    for state, (factor, seeds, what), _ in chosen:
        steps = sorted({(_label(state, c), describe_steps(c)) for c in _moved(state, factor, seeds).configs()})
        echo(f"  {state.name}: {what}: " + "; ".join(f"{label} {text}" for label, text in steps))
        echo(f"    why: {getattr(state.decision, 'reason', '')}")


def _what_would_settle(states: list[SweepState], out: Path, *, workers: int, model: CostModel,
                       echo) -> None:
    """Per open sweep: why it stopped, and the rule's next request with its estimated cost."""
    for state in states:
        if state.closed == "settled":
            echo(f"  {state.name}: settled - {getattr(state.decision, 'verdict', '')} at budget "
                 f"x{state.factor} with {len(state.seeds)} seeds")
            if state.record.pop("open", None) is not None:
                write_settle(out / state.name, state.record)
            continue
        verdict = f" ({state.decision.verdict})" if state.decision is not None else ""
        line = f"  {state.name}: open{verdict}, stopped: {state.closed}"
        variants = _next(state, None) if state.decision is not None else []
        if variants:
            factor, seeds, what = variants[0]
            planned = plan_costs([(state.name, _moved(state, factor, seeds).configs())], out, model)
            cost = wall_seconds(planned, workers) if planned else 0.0
            line += f"; next the rule asks for {what}: {len(planned)} run(s), about {minutes(cost)}"
        echo(line)
        state.record["open"] = line.strip()
        write_settle(out / state.name, state.record)


def settle(sweeps: list[str], out: str | Path, caps: Caps, *, overrides: dict | None = None,
           workers: int = 1, decide=None, runner=None, clock=time.monotonic, echo=print,
           retry_failed: bool = False) -> int:
    """Settle ``sweeps`` under ``out`` (see the module docstring); returns the exit status:
    0, 1 when runs failed, 130 when interrupted (the next call resumes the round).

    ``decide(analysis, look=, max_looks=)`` is the rule (default
    ``analysis.settle_rule.settle_decision``); ``runner(sweep, out, workers=, retry_failed=)``
    runs a sweep (default the local runner); ``clock()`` gives seconds (tests pass a fake one).
    ``retry_failed``: a done round whose runs failed is run again (failed runs resume) and
    looked at again, instead of closing its sweep.
    """
    out = Path(out).resolve()
    if workers < 1:
        raise SettleError(f"--workers must be >= 1, got {workers}")
    states = prepare(sweeps, out, overrides=dict(overrides or {}), caps=caps)
    decide = decide or _rule()
    runner = runner or _runner
    start = clock()
    retrying = _reopen_failed(states, out) if retry_failed else set()
    pending = [s for s in states if not s.record["rounds"] or s.record["rounds"][-1]["status"] == "planned"]
    for state in pending:
        if not state.record["rounds"]:
            state.record["rounds"].append(_round_entry(state, added="the sweep as written",
                                                       why="round 0", estimate=None))
        elif state.name in retrying:
            entry = state.record["rounds"][-1]
            echo(f"retrying {state.name}'s round {entry['round']}: "
                 f"{len(entry['earlier'][-1]['failed'])} failed run(s)")
        else:  # its "seconds" will count this call's part of the round only
            entry = state.record["rounds"][-1]
            entry["resumed"] = int(entry.get("resumed", 0)) + 1
            echo(f"resuming {state.name}'s round {entry['round']}")
        write_settle(out / state.name, state.record)
    if pending:
        code = _run_round(pending, out, workers=workers, runner=runner, decide=decide,
                          clock=clock, echo=echo, retry_failed=retry_failed)
        if code == 130:
            return code
    code = 0 if not pending else code
    for state in states:
        if not any(state is p for p in pending):  # its last round is done: look at it again
            if _close_if_incomplete(state, state.record["rounds"][-1], out):
                code = max(code, 1)  # still stopped by failed runs: not a success
            else:
                _conclude(state, out, decide)
    while True:
        model = CostModel.measure(out)
        left = caps.max_minutes * 60 - (clock() - start)
        chosen = _choose([s for s in states if not s.closed], out, caps=caps, workers=workers,
                         left=left, model=model)
        if not chosen:
            break
        estimate = max(total for _, _, total in chosen)
        number = max(len(s.record["rounds"]) for s, _, _ in chosen)
        _print_plan(number, chosen, estimate=estimate, spent=clock() - start, caps=caps,
                    workers=workers, echo=echo)
        for state, (factor, seeds, what), _ in chosen:
            why = getattr(state.decision, "reason", "")
            state.factor, state.seeds = factor, list(seeds)
            state.record["rounds"].append(_round_entry(state, added=what, why=why, estimate=estimate))
            write_settle(out / state.name, state.record)
        result = _run_round([s for s, _, _ in chosen], out, workers=workers, runner=runner,
                            decide=decide, clock=clock, echo=echo)
        if result == 130:
            return result
        code = max(code, result)
    echo(f"== settle: {sum(s.closed == 'settled' for s in states)} of {len(states)} settled in "
         f"{minutes(clock() - start)} ==")
    _what_would_settle(states, out, workers=workers, model=CostModel.measure(out), echo=echo)
    return code
