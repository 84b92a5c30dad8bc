"""``python -m app.cli``: the same as the ``gridtwin`` command."""

import sys

from app.cli import main

sys.exit(main())
