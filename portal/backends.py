"""The authentication backend every password check goes through (/login/, /admin/login/, API).

It asks the guard first: while the client or the account is locked out the password is not
even checked, and a wrong one is counted for both. Django's ``authenticate()`` turns the
``PermissionDenied`` into "no user" and stops there; a form that wants to say how long to wait
reads ``request.login_lockout``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from portal import guard


class GuardedModelBackend(ModelBackend):
    def authenticate(  # type: ignore[override]
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> AbstractBaseUser | None:
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        username = str(username)
        client = guard.client_address(request) if request is not None else None
        lockout = guard.locked_out(client, username)
        if lockout is not None:
            if request is not None:
                request.login_lockout = lockout  # type: ignore[attr-defined]
            raise PermissionDenied
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            guard.record_failure(client, username)
        else:
            guard.clear_failures(client, username)
        return user
