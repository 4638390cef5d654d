"""Fixtures for the Textual app's tests."""

from __future__ import annotations

import pytest

from tests.tui.drive import Messages


@pytest.fixture
def messages() -> Messages:
    """A recorder to pass as `message_hook`."""
    return Messages()
