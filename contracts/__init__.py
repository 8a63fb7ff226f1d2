"""contracts: what crosses the boundaries between sweep files, runs and the analysis.

Two small modules, each the single owner of one contract, imported by both sides:

- ``contracts.sweep``: the schema of a sweep file's ``description`` (question, expected,
  machine-readable prediction, note) and the parameter grid it refers to. ``study validate``
  and the analysis parse a sweep with the same function, so a file the study accepts is
  one the analysis can test.
- ``contracts.record``: the run record (``record.json`` and ``history.jsonl``): file names,
  statuses, fields, atomic writes, and the table row the analysis builds from a record.

Data flows one way (sweep → study → record → analysis); this package imports nothing from
``study`` or ``analysis``, nor torch or wandb: ``record`` is standard library only, ``sweep``
adds PyYAML and the torch-free metric registry (``lgm.evaluation.registry``) for the rule
that a predicted metric must have a known better direction.
"""
