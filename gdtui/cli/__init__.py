"""The command line: one module per command, registered in gdtui.cli.main."""

from gdtui.cli.main import main

__all__ = ["main"]
