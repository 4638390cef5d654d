"""Approval rules learned from a person's decisions: proposing them from the record, and matching a
tool call against the rules a person accepted. Pure: no store, no runner, no files."""
