"""``python -m resnet_viz``: the command line (see ``cli``).

Imports from: cli.
"""

import sys

from .cli.main import main

sys.exit(main())
