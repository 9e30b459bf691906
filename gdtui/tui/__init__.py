"""The terminal UI: the Textual app, its client of the session process, its views and widgets.

Why: everything that draws lives here and nothing here imports torch; the numbers come from the session
process (gdtui.engine.session) over the typed protocol of gdtui.engine.protocol.
"""
