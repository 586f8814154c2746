"""``python -m tracing``: see tracing/cli/."""

from tracing.cli import main

raise SystemExit(main())
