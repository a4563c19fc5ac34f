"""``python -m switchboard.mock``."""

import sys

from switchboard.mock.cli import main

sys.exit(main())
