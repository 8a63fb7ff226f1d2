"""How every number in a report is printed: digits chosen from its uncertainty.

One formatter for tables, verdict lines and figures, so the same value is always printed
the same way and no value shows more digits than it can bear:

- a value **with an uncertainty** (a standard deviation or standard error) is rounded to the
  decimal place of the uncertainty's leading digits, the Particle Data Group's convention
  (PDG, *Review of Particle Physics*, introduction "Rounding"): take the uncertainty's three
  leading digits; 100–354 keep two significant digits, 355–949 one, 950–999 round up to
  1000 and keep two. So ``32.5 ± 0.8188`` → ``32.5 ± 0.8``, ``27.25 ± 0.00775`` →
  ``27.250 ± 0.008``, ``14.14 ± 0.24`` → ``14.14 ± 0.24``;
- an **interval** ``[low, high]`` of an estimate takes its digits from half its width over
  two (about one standard error for a 95 % interval), so ``-8.942 [-15.7, -2.189]`` →
  ``-8.9 [-15.7, -2.2]``;
- a value **without** an uncertainty keeps :data:`SIGNIFICANT` significant digits (integers
  stay integers; never exponent notation above 1, where it would hide a sample count);
- p-values: two significant digits below 0.001, else three decimals.
"""

from __future__ import annotations

import math

__all__ = ["SIGNIFICANT", "MISSING", "decimals_for", "fmt", "fmt_pm", "fmt_interval", "fmt_p"]

SIGNIFICANT = 4
MISSING = "–"


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def decimals_for(uncertainty) -> int | None:
    """Decimal places that show ``uncertainty`` with the PDG's one or two significant digits
    (negative: round to tens, hundreds...); None when it is not a positive finite number."""
    if not _finite(uncertainty) or uncertainty <= 0:
        return None
    exponent = math.floor(math.log10(uncertainty))
    leading = round(uncertainty / 10 ** (exponent - 2))  # three leading digits, 100..1000
    if leading >= 950:  # 950..999 (and 999.6 rounding to 1000): up to 1000, i.e. 100 one order up
        exponent, leading = exponent + 1, 100
    significant = 2 if leading < 355 else 1
    return significant - 1 - exponent


def _plain(value, digits: int) -> str:
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    if abs(value) >= 10 ** (digits - 1):
        return f"{value:.1f}"
    return f"{value:.{digits}g}"


def fmt(value, digits: int = SIGNIFICANT, *, uncertainty=None) -> str:
    """A number as a report prints it: with ``uncertainty``, to its decimal place (above);
    else ``digits`` significant digits. Non-numbers as ``str``; NaN/None as ``–``."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    if not _finite(value):
        return str(value)
    places = decimals_for(uncertainty)
    if places is None:
        return _plain(value, digits)
    text = f"{round(value, places):.0f}" if places <= 0 else f"{value:.{places}f}"
    # a small negative value rounds to "-0" or "-0.00": print it as the zero it shows
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def fmt_pm(value, spread) -> str:
    """``value ± spread``, both to the spread's decimal place (``32.5 ± 0.8``)."""
    if not _finite(spread) or spread <= 0:
        return fmt(value) + ("" if spread is None or not _finite(spread) else f" ± {fmt(spread)}")
    return f"{fmt(value, uncertainty=spread)} ± {fmt(spread, uncertainty=spread)}"


def fmt_interval(low, high, *, estimate=None) -> str:
    """``[low, high]`` (``estimate [low, high]`` with an estimate), every number to the
    decimal place of half the interval's width over two."""
    if not (_finite(low) and _finite(high)):
        return MISSING if estimate is None else f"{fmt(estimate)} {MISSING}"
    scale = (high - low) / 4 if high > low else None
    text = f"[{fmt(low, uncertainty=scale)}, {fmt(high, uncertainty=scale)}]"
    return text if estimate is None else f"{fmt(estimate, uncertainty=scale)} {text}"


def fmt_p(p) -> str:
    """A p-value: ``0.00012`` → ``0.00012``, ``0.0481`` → ``0.048``; NaN/None as ``–``."""
    if p is None or not _finite(p):
        return MISSING
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"
