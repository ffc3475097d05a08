"""`python -m policy` (in deploy/): checks rendered manifests; see policy/__init__.py."""

import sys

from . import main

sys.exit(main())
