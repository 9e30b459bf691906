"""`python -m gdtui` is the `gdtui` command."""

import sys

from gdtui.cli import main

if __name__ == "__main__":
    sys.exit(main())
