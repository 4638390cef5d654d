"""baton: interactive orchestration of AI agent pipelines in the terminal, with a person in the loop.

The repository keeps its parts in top-level folders (`core/`, `sessions/`, `tui/`, `themes/`, `flows/`);
this package gathers them under one importable name, `baton`, through links to those folders.
"""
