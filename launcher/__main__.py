"""Runs the launcher command line: `python -m launcher open -- URL`."""

from __future__ import annotations

from launcher.cli import main

raise SystemExit(main())
