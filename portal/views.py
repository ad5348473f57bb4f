"""Access pages (ACC-1, ACC-4): login with an optional second step, profile, password change,
two-factor enrolment, and the installer's people page."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView, redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice

from portal import guard, roles, two_factor
from portal.forms import CodeForm, GuardedPasswordChangeForm, LoginForm, PersonAddForm, PersonEditForm, lockout_error
from portal.models import Membership
from portal.services import DEVICE_USERNAME


def _plants() -> list[Any]:
    from django.apps import apps

    return list(apps.get_model("plant", "Plant").objects.order_by("name"))


def _safe_next(request: HttpRequest, fallback: str) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return str(wanted)
    return fallback


class DeviceLoginView(LoginView):
    """Django's LoginView does the safe ``next`` handling; a user with two-factor login goes on to the code."""

    form_class = LoginForm
    template_name = "portal/login.html"
    redirect_authenticated_user = True
    extra_context = {"device_username": DEVICE_USERNAME}

    def get_success_url(self) -> str:
        url = super().get_success_url()
        if two_factor.needs_code(self.request.user):
            return reverse("portal:verify") + "?" + urlencode({"next": url})
        return url


def _verify(form: CodeForm, user: Any) -> Any:
    """The device that accepts the form's code; False: a wrong code; None: not checked (form error added)."""
    try:
        return two_factor.verify_any(user, form.cleaned_data["code"]) or False
    except two_factor.Throttled as throttled:
        form.add_error(
            "code",
            _("Too many wrong codes in a row: wait %(seconds)d s, then try again.") % {"seconds": throttled.wait_s},
        )
        return None


@never_cache
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """The second step: a code from the authenticator app or a backup code (counted by the guard)."""
    user: Any = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    target = _safe_next(request, reverse("plant:dashboard"))
    if user.is_verified() or not two_factor.needs_code(user):
        return HttpResponseRedirect(target)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        client, username = guard.client_address(request), user.get_username()
        lockout = guard.locked_out(client, username)
        if lockout is not None:
            form.add_error(None, lockout_error(lockout))
        else:
            device = _verify(form, user)
            if device is False:
                guard.record_failure(client, username)
                form.add_error("code", _("This code is not right (or was already used). Please try again."))
            elif device is not None:
                guard.clear_failures(client, username)
                request.session.cycle_key()
                otp_login(request, device)
                if isinstance(device, StaticDevice):
                    left = device.token_set.count()
                    messages.warning(
                        request, _("You logged in with a backup code; %(count)d are left.") % {"count": left}
                    )
                return HttpResponseRedirect(target)
    return render(request, "portal/verify.html", {"form": form, "next": target}, status=400 if form.is_bound else 200)


@login_required
@require_http_methods(["GET"])
def profile(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    plants = [plant for plant in _plants() if roles.may_read(user, plant)]  # another plant: not even its name
    context = {
        "device_account": user.get_username() == DEVICE_USERNAME,
        "roles": [{"plant": plant, "role": roles.role_of(user, plant)} for plant in plants],
        "two_factor_on": two_factor.confirmed_totp(user) is not None,
        "may_manage_people": roles.may_change(user, None, roles.SETTINGS),
    }
    return render(request, "portal/profile.html", context)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def password_change(request: HttpRequest) -> HttpResponse:
    form = GuardedPasswordChangeForm(request.user, request, request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        update_session_auth_hash(request, user)
        guard.clear_failures(guard.client_address(request), user.get_username())
        messages.success(request, _("Your password has been changed."))
        return redirect("portal:profile")
    return render(request, "portal/password_change.html", {"form": form}, status=400 if form.is_bound else 200)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app: QR code and key while unconfirmed, then the backup codes once."""
    user: Any = request.user
    if two_factor.confirmed_totp(user) is not None:
        return render(request, "portal/two_factor_on.html", {"form": CodeForm()})
    device = two_factor.pending_totp(user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        client, username = guard.client_address(request), user.get_username()
        lockout = guard.locked_out(client, username)
        if lockout is not None:
            form.add_error(None, lockout_error(lockout))
        else:
            codes = two_factor.confirm_enrolment(request, device, form.cleaned_data["code"])
            if codes is None:
                guard.record_failure(client, username)
                form.add_error("code", _("This code is not right. Check the time on your phone and try again."))
            else:
                # Shown in this answer only: they are never displayed again.
                return render(request, "portal/backup_codes.html", {"codes": codes})
    context = {"form": form, "qr_svg": two_factor.qr_svg(device), "secret": two_factor.secret_text(device)}
    return render(request, "portal/two_factor_setup.html", context, status=400 if form.is_bound else 200)


@never_cache
@login_required
@require_POST
def two_factor_disable(request: HttpRequest) -> HttpResponse:
    """Turn two-factor login off: needs a current code (or a backup code)."""
    user: Any = request.user
    form = CodeForm(request.POST)
    if form.is_valid():
        client, username = guard.client_address(request), user.get_username()
        lockout = guard.locked_out(client, username)
        if lockout is not None:
            form.add_error(None, lockout_error(lockout))
        elif (device := _verify(form, user)) is False:
            guard.record_failure(client, username)
            form.add_error("code", _("This code is not right (or was already used). Please try again."))
        elif device is not None:
            two_factor.disable(user)
            request.session.pop(DEVICE_ID_SESSION_KEY, None)
            messages.success(request, _("Two-factor login is off. The next login asks for the password only."))
            return redirect("portal:profile")
    return render(request, "portal/two_factor_on.html", {"form": form}, status=400)


# --- people (installers) ---------------------------------------------------------------------


def _manage(request: HttpRequest) -> bool:
    return roles.may_change(request.user, None, roles.SETTINGS)


def _people() -> list[Any]:
    return list(
        get_user_model()
        .objects.filter(is_superuser=False)
        .exclude(username=DEVICE_USERNAME)
        .prefetch_related("memberships")
        .order_by("username")
    )


@login_required
@roles.require_read(plant_of=roles.whole_device)
@require_http_methods(["GET"])
def people(request: HttpRequest) -> HttpResponse:
    plants = _plants()
    rows = []
    for person in _people():
        by_plant = {m.plant_id: m.get_role_display() for m in person.memberships.all()}
        rows.append(
            {
                "person": person,
                "roles": [by_plant.get(plant.pk, "–") for plant in plants],
                "two_factor_on": two_factor.confirmed_totp(person) is not None,
            }
        )
    return render(request, "portal/people.html", {"rows": rows, "plants": plants, "may_manage": _manage(request)})


@never_cache
@login_required
@roles.require(roles.SETTINGS, plant_of=roles.whole_device)
@require_http_methods(["GET", "POST"])
def person_add(request: HttpRequest) -> HttpResponse:
    form = PersonAddForm(request.POST or None, plants=_plants())
    if request.method == "POST" and form.is_valid():
        person = form.save()
        messages.success(request, _("%(name)s can log in now.") % {"name": person.get_username()})
        return redirect("portal:people")
    context = {"form": form, "may_manage": _manage(request)}
    return render(request, "portal/person_form.html", context, status=400 if form.is_bound else 200)


def _person(pk: int) -> Any:
    return get_object_or_404(
        get_user_model().objects.filter(is_superuser=False).exclude(username=DEVICE_USERNAME), pk=pk
    )


@never_cache
@login_required
@roles.require(roles.SETTINGS, plant_of=roles.whole_device)
@require_http_methods(["GET", "POST"])
def person_edit(request: HttpRequest, pk: int) -> HttpResponse:
    person = _person(pk)
    initial = dict(Membership.objects.filter(user=person).values_list("plant_id", "role"))
    form = PersonEditForm(request.POST or None, person=person, plants=_plants(), initial_roles=initial)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("%(name)s has been saved.") % {"name": person.get_username()})
        return redirect("portal:people")
    context = {"form": form, "person": person, "may_manage": _manage(request)}
    return render(request, "portal/person_form.html", context, status=400 if form.is_bound else 200)


@login_required
@roles.require(roles.SETTINGS, plant_of=roles.whole_device)
@require_http_methods(["GET", "POST"])
def person_remove(request: HttpRequest, pk: int) -> HttpResponse:
    person = _person(pk)
    if person.pk == request.user.pk:
        messages.error(request, _("You cannot remove yourself."))
        return redirect("portal:people")
    if request.method == "POST":
        name = person.get_username()
        person.delete()
        messages.success(request, _("%(name)s has been removed; their sessions end now.") % {"name": name})
        return redirect("portal:people")
    return render(request, "portal/person_remove.html", {"person": person, "may_manage": _manage(request)})
