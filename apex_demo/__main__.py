"""`python -m apex_demo ...`: see apex_demo.cli."""

import sys

from apex_demo.cli import main

if __name__ == "__main__":
    sys.exit(main())
