"""The Django admin stays for installers: its login goes through the same guard as /login/."""

from django.contrib import admin

from portal.forms import AdminLoginForm
from portal.models import Membership

admin.site.login_form = AdminLoginForm


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin[Membership]):
    list_display = ("user", "plant", "role")
    list_filter = ("role", "plant")
