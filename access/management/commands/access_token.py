"""Access tokens for the person at the machine and for scripts (ACC-2).

    access_token create --name NAME --role api|admin --expires YYYY-MM-DD [--authorise]
    access_token authorise --name NAME
    access_token revoke --name NAME
    access_token list

``create`` prints the secret as its last line. A bad argument stops with a message and a
non-zero exit, and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from access import services
from access.models import AccessToken
from portal.services import device_user


def _date(raw: str) -> dt.date:
    try:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw) is None:
            raise ValueError(raw)
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise CommandError(f"--expires {raw!r} is not a date; use YYYY-MM-DD") from None


class Command(BaseCommand):
    help = "Create, authorise, revoke and list access tokens; create prints the secret as its last line."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="create|authorise|revoke|list")
        create = actions.add_parser("create", help="create a token and print its secret (last line)")
        create.add_argument("--name", required=True)
        create.add_argument("--role", required=True, choices=services.ROLES)
        create.add_argument("--expires", required=True, metavar="YYYY-MM-DD", help="last day the token works (UTC)")
        create.add_argument("--authorise", action="store_true", help="let it in at once")
        for name, text in (("authorise", "let a token in"), ("revoke", "shut a token out")):
            action = actions.add_parser(name, help=text)
            action.add_argument("--name", required=True)
        actions.add_parser("list", help="every token with its state (never a secret)")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "create":
            self._create(options)
        elif action == "list":
            self._list()
        else:
            token = AccessToken.objects.filter(name=" ".join(options["name"].split())).first()
            if token is None:
                raise CommandError(f"no token is named {options['name']!r} (see: access_token list)")
            try:
                if action == "authorise":
                    services.authorise_token(token)
                else:
                    services.revoke_token(token)
            except services.TokenError as error:
                raise CommandError(error.message) from None
            self.stdout.write(f"{token.name}: {token.state}")

    def _create(self, options: dict[str, Any]) -> None:
        expires_on = _date(options["expires"])
        user = device_user()
        if user is None:
            raise CommandError("the device account does not exist yet; run `manage.py migrate` and `bootstrap` first")
        try:
            new = services.create_token(
                name=options["name"],
                role=options["role"],
                expires_on=expires_on,
                user=user,
                authorise=options["authorise"],
            )
        except services.TokenError as error:
            raise CommandError(f"--{error.field.replace('expires_on', 'expires')}: {error.message}") from None
        token = new.token
        state = "authorised" if token.authorised else "not authorised yet (access_token authorise --name …)"
        self.stdout.write(f"Token {token.name!r} ({token.role}, valid to {token.expires_on}), {state}.")
        self.stdout.write("The secret is shown only now (stored only as a hash):")
        self.stdout.write(new.secret)

    def _list(self) -> None:
        tokens = AccessToken.objects.order_by("name")
        if not tokens:
            self.stdout.write("no tokens")
            return
        for token in tokens:
            used = token.last_used_at.isoformat(timespec="seconds") if token.last_used_at else "never"
            self.stdout.write(
                f"{token.name}\t{token.role}\texpires {token.expires_on}\t{token.state}\tlast used {used}"
            )
