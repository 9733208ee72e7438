"""`python -m moscale.serving [options]` runs the server, like `moscale serve`."""

import sys

from .server import main

sys.exit(main())
