"""The command palette, safe against a key storm.

Why: Textual's palette has two races that end the app with a traceback when keys come fast: two quick
enters select twice, and the second dismiss pops the screen below it; and a search started just before
the palette closes queries its (already removed) command list. Only the screen on top may dismiss itself,
and a search on a closing palette does nothing.
"""

from __future__ import annotations

from textual import work
from textual.command import CommandPalette
from textual.css.query import NoMatches


class SafeCommandPalette(CommandPalette):
    def dismiss(self, result=None):
        if self.app.screen is not self:
            return None
        return super().dismiss(result)

    @work(exclusive=True, group=CommandPalette._GATHER_COMMANDS_GROUP, exit_on_error=False)
    async def _gather_commands(self, search_value: str) -> None:
        if not self.is_attached:
            return
        try:
            await CommandPalette._gather_commands.__wrapped__(self, search_value)
        except NoMatches:
            pass  # the palette closed while searching
