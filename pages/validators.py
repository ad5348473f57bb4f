"""Validators of what enters from outside that several apps share (one of each)."""

from __future__ import annotations

import ipaddress
import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def validate_host(value: str) -> None:
    """An IPv4/IPv6 address or a DNS host name (letters, digits, hyphens; dot-separated labels)."""
    try:
        ipaddress.ip_address(value)
        return
    except ValueError:
        pass
    if not value or len(value) > 253 or not all(_HOST_LABEL.match(label) for label in value.rstrip(".").split(".")):
        raise ValidationError(_("%(value)s is neither an IP address nor a host name."), params={"value": value})
