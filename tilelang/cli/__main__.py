"""``python -m tilelang.cli``: the ``tilelang`` command."""

import sys

from tilelang.cli.main import main

sys.exit(main())
