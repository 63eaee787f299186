"""Service tests build apps without caller identity unless they test it.

The identity path has tests of its own (``test_identity.py`` and each server's
``test_caller_access.py``) with a real issuer over loopback HTTP.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _identity_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLPLAT_AUTH", "off")
