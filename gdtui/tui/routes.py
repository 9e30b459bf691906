"""Which view takes which reply of the session: each view names the replies it handles, and the app calls
every handler of a reply's type in the views' order.

Why: a reply may matter to several views (a Ready starts the log anew, resets the landscape's paths and asks
for the script again); a table built from what each view declares keeps the app's routing to one line and
puts each handler beside the state it changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

Routes = Mapping[type, Callable[[Any], None]]


class Routed(Protocol):
    def replies(self) -> Routes:
        """The reply types this view handles, each with its handler."""
        ...


def routes(*views: Routed) -> dict[type, list[Callable[[Any], None]]]:
    """Every reply type's handlers, in the order of `views`."""
    table: dict[type, list[Callable[[Any], None]]] = {}
    for view in views:
        for kind, handle in view.replies().items():
            table.setdefault(kind, []).append(handle)
    return table
