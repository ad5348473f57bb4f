"""Profile -> Access tokens (ACC-2): list, create (the secret shown once), authorise, revoke."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from access import services
from access.forms import NewTokenForm
from access.models import AccessToken
from portal.roles import SETTINGS, may_change


def _installer_only(request: HttpRequest) -> None:
    if not may_change(request.user, None, SETTINGS):
        raise PermissionDenied(_("Only an installer manages access tokens."))


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    _installer_only(request)
    form = NewTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            new = services.create_token(user=request.user, **form.cleaned_data)
        except services.TokenError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            # Rendered, not redirected: the secret must not pass through the session or a URL.
            return render(request, "access/created.html", {"token": new.token, "secret": new.secret})
    tokens = AccessToken.objects.order_by("name")
    return render(request, "access/tokens.html", {"form": form, "tokens": tokens})


@login_required
@require_POST
def token_authorise(request: HttpRequest, pk: int) -> HttpResponse:
    _installer_only(request)
    token = get_object_or_404(AccessToken, pk=pk)
    try:
        services.authorise_token(token)
    except services.TokenError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("%(name)s is authorised and works from now on.") % {"name": token.name})
    return redirect("access:tokens")


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    _installer_only(request)
    token = get_object_or_404(AccessToken, pk=pk)
    services.revoke_token(token)
    messages.success(request, _("%(name)s is revoked; it is refused from its next request on.") % {"name": token.name})
    return redirect("access:tokens")
