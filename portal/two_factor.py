"""Two-factor login with TOTP and static backup codes (ACC-1), on django-otp.

A user enrols one authenticator app (a ``TOTPDevice``, unconfirmed until a code from it has been
verified) and then gets ten backup codes (one ``StaticDevice``), each valid once. The secret is
shown only while the device is unconfirmed; codes are shown only in the answer that creates them.
"""

from __future__ import annotations

import base64
import io
import re
from typing import Any

import qrcode
import qrcode.image.svg
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY, user_has_device
from django_otp import login as otp_login
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

BACKUP_CODE_COUNT = 10
TOTP_NAME = "Authenticator app"
BACKUP_NAME = "Backup codes"
# A TOTP code is 6 digits; a backup code 8 characters of django-otp's base32 alphabet (lower case).
CODE_PATTERN = re.compile(r"^(?:\d{6}|[a-z2-7]{8})$")


def normalise_code(raw: str) -> str | None:
    """The code without spaces and dashes, lower case; None if it cannot be a code at all."""
    code = re.sub(r"[\s-]", "", raw).lower()
    return code if CODE_PATTERN.match(code) else None


def needs_code(user: Any) -> bool:
    """True once the user has a confirmed device: every session then has to verify a code."""
    return bool(user.is_authenticated and user_has_device(user, confirmed=True))


def confirmed_totp(user: Any) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def pending_totp(user: Any) -> TOTPDevice:
    """The unconfirmed device being enrolled (the same one on every visit, so a scanned code stays)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)
    return device


def secret_text(device: TOTPDevice) -> str:
    """The key as authenticator apps want it typed: base32 in groups of four."""
    encoded = base64.b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


def qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// URL as an inline SVG (rendered here: no network, no image file)."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    out = io.BytesIO()
    image.save(out)
    svg = out.getvalue().decode("utf-8")
    return svg[svg.index("<svg") :]


class Throttled(Exception):
    """django-otp's own per-device brake: after n wrong codes, the next is checked only after 2^(n-1) s."""

    def __init__(self, wait_s: int) -> None:
        super().__init__(wait_s)
        self.wait_s = wait_s


def verify_any(user: Any, code: str) -> Device | None:
    """The confirmed device of ``user`` that accepts ``code`` (a backup code is used up), or None.

    Raises ``Throttled`` when no device would even check the code yet.
    """
    wait_s = 0
    with transaction.atomic():
        for model in (TOTPDevice, StaticDevice):
            for device in model.objects.select_for_update().filter(user=user, confirmed=True):
                allowed, details = device.verify_is_allowed()
                if not allowed:
                    until = (details or {}).get("locked_until")
                    if until is not None:
                        wait_s = max(wait_s, int(-(-(until - timezone.now()).total_seconds() // 1)))
                    continue
                if device.verify_token(code):
                    return device
    if wait_s > 0:
        raise Throttled(wait_s)
    return None


def confirm_enrolment(request: HttpRequest, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm the pending device with a code from it; returns the new backup codes (shown once)."""
    if not device.verify_token(code):
        return None
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=device.user).exclude(pk=device.pk).delete()
        codes = new_backup_codes(device.user)
    otp_login(request, device)
    return codes


def new_backup_codes(user: Any) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    static = StaticDevice.objects.create(user=user, name=BACKUP_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=static, token=code) for code in codes)
    return codes


def disable(user: Any) -> None:
    """Remove every device of the user: the next login asks for the password only."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()


def session_verified_for(session: Any, user: Any) -> bool:
    """For websockets (no OTPMiddleware there): has this session verified a device of ``user``?"""
    persistent_id = session.get(DEVICE_ID_SESSION_KEY) if session is not None else None
    if not persistent_id:
        return False
    device = Device.from_persistent_id(persistent_id)
    return device is not None and device.user_id == user.pk and device.confirmed
