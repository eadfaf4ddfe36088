"""``python -m chronos_pkg`` is the ``chronos-pkg`` command."""

import sys

from chronos_pkg.cli import main

sys.exit(main())
