"""Rendering a study's analyses: nothing here computes a statistic.

``document`` lays one ``SweepAnalysis`` per question out as blocks (the answers first, then
five sections per sweep) and writes ``report.md`` + a self-contained ``report.html``;
``blocks`` is the small block model and its Markdown/HTML renderers; ``tables`` and
``figures`` turn analysed numbers into tables and matplotlib figures; ``wandb_report`` turns
the same blocks into a W&B Report. Numbers are printed by ``analysis.numbers``.
"""

from analysis.report.document import (READING_TEXT, RULE_TEXT, SECTION_TITLES, build_report,
                                      header_blocks, report_blocks, sweep_blocks)

__all__ = ["build_report", "report_blocks", "sweep_blocks", "header_blocks", "RULE_TEXT",
           "READING_TEXT", "SECTION_TITLES"]
