"""Checkpoints, one gate per kind on one base (`base.Gate`): what a person is shown and may decide, and
what each decision does."""
