from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def fast_hashing(settings: Any) -> None:
    """The real hasher takes a noticeable time per check on purpose; these tests check many passwords."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
