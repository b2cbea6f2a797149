"""``python -m infra.local`` is the ``tessera`` command."""

import sys

from infra.local.cli import main

sys.exit(main())
