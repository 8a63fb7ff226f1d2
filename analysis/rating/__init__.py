"""The blind rating tool: people judge the runs' samples, and the report asks whether the
metrics order the configurations as the people do.

In data-flow order: ``store`` (``ratings.jsonl``: line format, locked appends, reading) →
``schedule`` (which pair or image next) → ``images`` (grids from ``samples.npz`` → PNG) →
``session`` / ``server`` / ``page`` (``python -m analysis rate``: the checks before serving,
the HTTP routes on localhost, the page and its script) → ``statistics`` (Bradley–Terry,
Wilson intervals, Kendall τ, judgments needed: pure functions) → ``analysis`` (one
question's ratings → scores, fooling rates, agreement per metric) → ``report`` (the
report's ratings section, rendered from the sweep analysis).
"""
