"""The one number formatter (analysis.numbers): digits from the uncertainty, PDG rounding."""

import math

import pytest

from analysis.numbers import decimals_for, fmt, fmt_interval, fmt_p, fmt_pm


@pytest.mark.parametrize("value, spread, text", [
    # 0.8188: leading digits 819 (355..949) → one significant digit, 0.8 → one decimal
    (32.5, 0.8188, "32.5 ± 0.8"),
    # 0.00775: 775 → one digit, 0.008 → three decimals; the value follows
    (27.25, 0.00775, "27.250 ± 0.008"),
    # 0.24: 240 (100..354) → two significant digits → two decimals
    (14.14, 0.24, "14.14 ± 0.24"),
    # 15.2: 152 → two digits, 15 → no decimals
    (123.4, 15.2, "123 ± 15"),
    # 0.0996: 996 (950..999) rounds up to 0.10, two significant digits → two decimals
    (5.4321, 0.0996, "5.43 ± 0.10"),
    # 240: 240 → two digits at the tens: 1234 → 1230
    (1234.0, 240.0, "1230 ± 240"),
])
def test_value_and_spread_take_the_spreads_decimal_place(value, spread, text):
    assert fmt_pm(value, spread) == text


def test_decimals_for():
    assert decimals_for(0.8188) == 1 and decimals_for(0.24) == 2 and decimals_for(3.37) == 1
    assert decimals_for(0.0) is None and decimals_for(math.nan) is None and decimals_for(-1) is None


def test_an_interval_takes_half_its_width_over_two():
    # width 13.511 → 13.511 / 4 = 3.38 (338: two significant digits) → one decimal
    assert fmt_interval(-15.7, -2.189, estimate=-8.942) == "-8.9 [-15.7, -2.2]"
    assert fmt_interval(0.26, 2.16) == "[0.3, 2.2]"   # 1.9 / 4 = 0.475: one digit → one decimal
    assert fmt_interval(math.nan, 1.0) == "–"
    # an upper end that rounds to zero prints as 0, not -0 (width 21.9 / 4 = 5.5: no decimals)
    assert fmt_interval(-22.1, -0.2, estimate=-11.2) == "-11 [-22, 0]"


def test_plain_numbers_and_p_values():
    assert fmt(10000) == "10000" and fmt(0.123456) == "0.1235" and fmt(math.nan) == "–"
    assert fmt(None) == "–" and fmt("zero_one") == "zero_one" and fmt(1234.5678) == "1234.6"
    assert fmt_p(0.00012) == "0.00012" and fmt_p(0.0481) == "0.048" and fmt_p(math.nan) == "–"


def test_the_same_value_prints_the_same_way_wherever_it_appears():
    # a mean with its spread, in the table and in a verdict line, goes through one function
    assert fmt(32.4812, uncertainty=0.8188) == fmt_pm(32.4812, 0.8188).split(" ± ")[0] == "32.5"
