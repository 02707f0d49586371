"""Run the lobby command: `python -m lobby`."""

import sys

from lobby.cli import main

sys.exit(main())
