"""Two-factor login enforced for every request (ACC-1).

django-otp's ``OTPMiddleware`` tells whether this session has verified a code. A user who has a
confirmed device and has not verified one in this session may only reach the code page,
logout and the language switch: pages redirect to the code page, the API answers 403 JSON.
A request authenticated by something other than the session (e.g. a bearer token middleware
placed after this one) is not affected.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve, reverse
from django.utils.translation import gettext as _

from portal.two_factor import needs_code

# Where a half-logged-in session may go: enter the code, give up, or switch the language.
ALLOWED_VIEWS = frozenset({"portal:verify", "portal:logout", "set_language", "admin:logout"})


class VerifiedSessionMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user: Any = request.user  # OTPMiddleware gave it is_verified()
        if user.is_authenticated and not user.is_verified() and needs_code(user):
            try:
                view_name = resolve(request.path_info).view_name
            except Resolver404:
                view_name = ""
            if view_name not in ALLOWED_VIEWS:
                if request.path_info.startswith("/api/"):
                    return JsonResponse(
                        {"detail": _("Two-factor login: enter the code from your authenticator app first.")},
                        status=403,
                    )
                return redirect_to_login(request.get_full_path(), reverse("portal:verify"))
        return self.get_response(request)
