"""``manage.py update_rollback``: point ``<var>/releases/current`` back to the previous installed
release, or remove it when there is none, so the next restart runs that release (or the checkout).
The database is not rolled back (docs/updates.md)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from updates import releases


class Command(BaseCommand):
    help = __doc__.split("\n\n")[0] if __doc__ else ""

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            now = releases.rollback()
        except releases.RollbackError as error:
            raise CommandError(str(error)) from None
        if now is None:
            self.stdout.write("No older release: releases/current removed; a restart runs the checkout.")
        else:
            self.stdout.write(f"releases/current now points to {now}; a restart runs it.")
        self.stdout.write("Restart the product (Device > Restart, or the service). The database stays as it is.")
