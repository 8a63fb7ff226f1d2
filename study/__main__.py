"""``python -m study {run,sweep,validate,export}``: see study/cli.py."""

import sys

from study.cli import main

sys.exit(main(sys.argv[1:]))
