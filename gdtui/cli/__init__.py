"""The command line: `gdtui` and its subcommands, one module per command, named in gdtui.cli.root.

Why: `gdtui.cli:main` is the console entry point; importing it loads neither torch nor Textual.
"""

from gdtui.cli.root import main

__all__ = ["main"]
