"""``python -m redo_kit``: the ``redo-kit`` command, for environments without the script."""

import sys

from redo_kit._cli import main

sys.exit(main())
