"""Import a generated package and every module in it: ``python import_all.py PACKAGE``.

A generated client that byte-compiles can still fail at import (a name it
refers to but never defined, a circular import); importing each module, not
only the package, finds that before a driver relies on one of them.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys


def main() -> None:
    for name in sys.argv[1:]:
        package = importlib.import_module(name)
        count = 1
        for module in pkgutil.walk_packages(getattr(package, "__path__", []), f"{name}."):
            importlib.import_module(module.name)
            count += 1
        print(f"imported {name}: {count} modules")


if __name__ == "__main__":
    main()
