"""Run the treatment engine's CLI from a checkout: ``python cli.py --help``.

The installed command is ``treatment``; both call :func:`treatment_engine.cli.main`.
"""

from treatment_engine.cli import main

if __name__ == "__main__":
    main()
