"""``python -m treatment_engine`` runs the ``treatment`` command."""

from .cli import main

main()
