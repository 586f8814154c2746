import os
import sys

# Passive OpenMP waiting: on a CPU shared with other work, spinning worker threads made each step up to
# six times slower here. Must be set before torch loads its OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from finetune.cli import main  # noqa: E402

sys.exit(main())
