"""The README and docs/ stay true: the README's test command is the one CI runs, every link between them
resolves, every key of the app is in docs/keys.md and every option of every command in docs/options.md.

Why: the README is a short tour that links to docs/ for the reference; a reference that loses a key or an
option, or a link that points nowhere, fails here rather than in a reader's hands.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return {slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def test_readme_test_command_is_the_one_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    readme = README.read_text(encoding="utf-8")
    extras = re.search(r"pip install -e '(\.\[[^\]]*\])'", ci)
    pytest_line = re.search(r"^(python -m pytest[^\n]*)$", ci, flags=re.M)
    assert extras and pytest_line, "the CI script no longer installs the extras or runs pytest as expected"
    assert f"pip install -e '{extras.group(1)}' && {pytest_line.group(1)}" in readme


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.name)
def test_every_link_resolves(page: Path):
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    for target in LINK.findall(text):
        if "://" in target:
            continue
        name, _, anchor = target.partition("#")
        path = (page.parent / name).resolve() if name else page
        assert path.exists(), f"{page.name}: {target} points nowhere"
        if anchor:
            assert anchor in anchors(path), f"{page.name}: {target}: no such heading"


def test_every_key_is_documented():
    from gdtui.tui.keys import KEYS, PALETTE

    keys = " ".join((ROOT / "docs" / "keys.md").read_text(encoding="utf-8").split())  # lines wrapped anywhere
    for binding in KEYS:
        if binding.action == "leave_field":
            continue  # escape, "leaves the field"
        shown = binding.key_display or binding.key.split(",")[0]
        if shown in "12345678":
            shown = "`1`-`8`"
        elif len(shown) == 1:
            shown = f"`{shown}`"
        assert shown in keys, f"key {shown} ({binding.action}) is not in docs/keys.md"
    for title, _, _ in PALETTE:
        assert title in keys, f"palette entry {title!r} is not in docs/keys.md"


def test_every_option_is_documented():
    from gdtui.cli.root import cli

    options = " ".join((ROOT / "docs" / "options.md").read_text(encoding="utf-8").split())
    ctx = click.Context(cli, info_name="gdtui")
    commands = [cli, *(cli.get_command(ctx, name) for name in cli.list_commands(ctx))]
    for command in commands:
        assert command is not None
        for param in command.params:
            for opt in [*param.opts, *getattr(param, "secondary_opts", [])]:
                if opt.startswith("-"):
                    assert f"`{opt}" in options or f" {opt}" in options, (
                        f"{command.name} {opt} is not in docs/options.md"
                    )
    for name in cli.list_commands(ctx):
        assert f"`gdtui {name}" in options, f"gdtui {name} is not in docs/options.md"
