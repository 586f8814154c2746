"""``python -m tracing``: see tracing/cli.py."""

from tracing.cli import main

raise SystemExit(main())
