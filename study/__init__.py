"""study: the program a W&B agent runs, and a local sweep runner.

``python -m study run --key=value ...`` trains and evaluates one configuration
(``study.run``); ``python -m study sweep FILE --workers N --out DIR`` runs a whole sweep file
locally (``study.runner``); ``python -m study validate FILES`` checks sweep files. See
``study/README.md``. Importing this package has no side effects and does not import wandb.
"""
