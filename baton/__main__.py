"""`python -m baton` is the `baton` command."""

from baton.tui.cli import main

main()
