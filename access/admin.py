from django.contrib import admin
from django.http import HttpRequest

from access.models import AccessToken


@admin.register(AccessToken)
class AccessTokenAdmin(admin.ModelAdmin[AccessToken]):
    """Read and revoke here; tokens are created on the Access tokens page, the API or the command
    (the secret is shown once there), so the admin has no add form."""

    list_display = ["name", "role", "expires_on", "authorised", "revoked_at", "last_used_at", "user"]
    list_filter = ["role", "authorised"]
    fields = [
        "name",
        "role",
        "expires_on",
        "user",
        "created_at",
        "authorised",
        "authorised_at",
        "revoked_at",
        "last_used_at",
    ]
    readonly_fields = ["name", "role", "user", "created_at", "authorised_at", "last_used_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
