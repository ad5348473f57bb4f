"""Forms of the access pages (ACC-1, ACC-4): login, code, password change, people."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from portal import guard, roles, two_factor
from portal.guard import Lockout
from portal.models import Membership
from portal.services import DEVICE_USERNAME


def lockout_error(lockout: Lockout) -> ValidationError:
    """ "Try again in 14 minutes" (an address, rounded up) or "in 8 seconds" (an account)."""
    if lockout.per_account:
        # The account is slowed, not locked: seconds, at most LOGIN_ACCOUNT_DELAY_MAX_S.
        text = ngettext(
            "Too many wrong passwords for this account. Try again in %(seconds)d second.",
            "Too many wrong passwords for this account. Try again in %(seconds)d seconds.",
            lockout.wait_s,
        )
        return ValidationError(text, code="locked", params={"seconds": lockout.wait_s})
    else:
        text = ngettext(
            "Too many wrong passwords from this device. Try again in %(minutes)d minute.",
            "Too many wrong passwords from this device. Try again in %(minutes)d minutes.",
            lockout.minutes,
        )
    return ValidationError(text, code="locked", params={"minutes": lockout.minutes})


class GuardMessages:
    """For Django's authentication forms: a refusal by the guard says how long to wait."""

    request: HttpRequest | None

    def get_invalid_login_error(self) -> ValidationError:
        lockout = getattr(self.request, "login_lockout", None)
        if lockout is not None:
            return lockout_error(lockout)
        return super().get_invalid_login_error()  # type: ignore[misc]


class LoginForm(GuardMessages, AuthenticationForm):
    """User name and password; without a user name the device account logs in, as on the KSEM."""

    username = forms.CharField(
        label=_("User name"),
        required=False,
        max_length=150,
        help_text=_("Leave empty for the device account."),
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        help_text=_("The device password, or your own."),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("Wrong user name or password. Please check them and try again."),
    }

    def clean_username(self) -> str:
        return str(self.cleaned_data.get("username") or "").strip() or DEVICE_USERNAME

    def get_invalid_login_error(self) -> ValidationError:
        if (
            getattr(self.request, "login_lockout", None) is None
            and self.cleaned_data.get("username") == DEVICE_USERNAME
        ):
            return ValidationError(_("Wrong device password. Please check it and try again."), code="invalid_login")
        return super().get_invalid_login_error()


class AdminLoginForm(GuardMessages, AdminAuthenticationForm):
    """The Django admin's login, with the same guard and the same lockout message."""


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code"),
        max_length=32,
        help_text=_("The 6-digit code from your authenticator app, or one of your backup codes."),
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True, "autocapitalize": "none"}
        ),
    )

    def clean_code(self) -> str:
        code = two_factor.normalise_code(self.cleaned_data["code"])
        if code is None:
            raise ValidationError(
                _("A code has 6 digits (authenticator app) or 8 letters and digits (backup code)."), code="format"
            )
        return code


class GuardedPasswordChangeForm(PasswordChangeForm):
    """Current password (checked through the guard) and a new one: 8+ characters, upper and lower case."""

    def __init__(self, user: Any, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        self.request = request
        super().__init__(user, *args, **kwargs)

    def clean_old_password(self) -> str:
        old_password: str = self.cleaned_data["old_password"]
        client = guard.client_address(self.request)
        username = self.user.get_username()
        lockout = guard.locked_out(client, username)
        if lockout is not None:
            raise lockout_error(lockout)
        if not self.user.check_password(old_password):
            guard.record_failure(client, username)
            raise ValidationError(self.error_messages["password_incorrect"], code="password_incorrect")
        return old_password


def _role_field(plant: Any) -> forms.ChoiceField:
    return forms.ChoiceField(
        label=plant.name,
        required=False,
        choices=[("", _("No access")), (roles.OPERATOR, _("Operator")), (roles.INSTALLER, _("Installer"))],
    )


class RolesMixin:
    """One role field per plant, named ``role_<plant id>``."""

    fields: dict[str, forms.Field]
    cleaned_data: dict[str, Any]

    def add_role_fields(self, plants: list[Any], initial: dict[int, str]) -> None:
        self.plants = plants
        for plant in plants:
            field = _role_field(plant)
            field.initial = initial.get(plant.pk, "")
            self.fields[f"role_{plant.pk}"] = field

    def chosen_roles(self) -> dict[int, str]:
        return {plant.pk: self.cleaned_data.get(f"role_{plant.pk}") or "" for plant in self.plants}

    def role_fields(self) -> list[Any]:
        return [self[f"role_{plant.pk}"] for plant in self.plants]  # type: ignore[index]

    def save_roles(self, person: Any) -> None:
        for plant_id, role in self.chosen_roles().items():
            if role:
                Membership.objects.update_or_create(user=person, plant_id=plant_id, defaults={"role": role})
            else:
                Membership.objects.filter(user=person, plant_id=plant_id).delete()


class PersonAddForm(RolesMixin, forms.Form):
    username = forms.CharField(
        label=_("User name"),
        max_length=150,
        help_text=_("Letters, digits and @ . + - _ only."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "none"}),
    )
    password = forms.CharField(
        label=_("Initial password"),
        strip=False,
        help_text=_(
            "At least 8 characters with upper-case and lower-case letters. Tell it to the person; they can change it."
        ),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: Any, plants: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_role_fields(plants, {})

    def clean_username(self) -> str:
        username = str(self.cleaned_data["username"]).strip()
        user_model = get_user_model()
        user_model.username_validator(username)
        if username.lower() == DEVICE_USERNAME or user_model.objects.filter(username__iexact=username).exists():
            raise ValidationError(_("The user name %(name)s is taken."), code="taken", params={"name": username})
        return username

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        password = cleaned.get("password")
        if password:
            candidate = get_user_model()(username=cleaned.get("username") or "")
            try:
                password_validation.validate_password(password, candidate)
            except ValidationError as error:
                self.add_error("password", error)
        if not any(self.chosen_roles().values()):
            raise ValidationError(_("Give the person a role on at least one plant."), code="no_role")
        return cleaned

    def save(self) -> Any:
        """The new person with their roles (the page and the API both add people this way)."""
        with transaction.atomic():
            person = get_user_model().objects.create_user(
                username=self.cleaned_data["username"], password=self.cleaned_data["password"]
            )
            self.save_roles(person)
        return person


class PersonEditForm(RolesMixin, forms.Form):
    new_password = forms.CharField(
        label=_("New initial password"),
        required=False,
        strip=False,
        help_text=_("Only to replace a forgotten password; leave empty to keep it."),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    turn_off_two_factor = forms.BooleanField(label=_("Turn off two-factor login (lost phone)"), required=False)

    def __init__(
        self, *args: Any, person: Any, plants: list[Any], initial_roles: dict[int, str], **kwargs: Any
    ) -> None:
        self.person = person
        super().__init__(*args, **kwargs)
        self.add_role_fields(plants, initial_roles)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        password = cleaned.get("new_password")
        if password:
            try:
                password_validation.validate_password(password, self.person)
            except ValidationError as error:
                self.add_error("new_password", error)
        return cleaned

    def save(self) -> None:
        """Roles, a new initial password, two-factor off: the page and the API both edit this way."""
        with transaction.atomic():
            self.save_roles(self.person)
            if self.cleaned_data["new_password"]:
                self.person.set_password(self.cleaned_data["new_password"])
                self.person.save(update_fields=["password"])
            if self.cleaned_data["turn_off_two_factor"]:
                two_factor.disable(self.person)
