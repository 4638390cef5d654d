"""The `baton` command's subcommands, one module each; `tui.cli` gathers them under the `baton` group.

Each command parses its arguments, calls the application layer (`sessions.app`) and prints what comes
back; imports are deferred to the command that needs them, so `baton --help` and `baton validate` never
load litellm, and nothing loads Textual until the full-screen UI opens.
"""
