"""``python -m redo_kit.emulator``: the same as ``redo-kit emulator``."""

from __future__ import annotations

import argparse
import sys

from redo_kit._errors import ConfigurationError
from redo_kit.emulator._cli import configure_parser, run


def main() -> int:
    """Parse the emulator's options and serve until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m redo_kit.emulator",
        description="Run a local Redo Events API (SQLite, fault injection) on loopback.",
    )
    configure_parser(parser)
    try:
        return run(parser.parse_args())
    except ConfigurationError as exc:
        print(f"redo-kit emulator: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
