"""``manage.py eebus``: the EEBus connections at the console, for installers and scripts (SG-4).

    eebus status [--json]             own SKI, LPC/LPP state and limits, peers with their status
    eebus couple SKI                  trust a control box (or any EEBus node)
    eebus decouple SKI                remove the trust and drop its connection
    eebus disconnect SKI              drop the connection, keep the trust
    eebus connect HOST SKI [--port]   couple and dial a node the network search does not show

``--plant ID`` picks the plant (default: the first). A bad SKI or host ends with exit code 1 and a
message naming the problem; nothing is changed then. The running ``serve_eebus`` acts on a change
within a second.
"""

from __future__ import annotations

import json
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser

from smartgrid.eebus import limits, overview, store
from smartgrid.eebus.ski import SkiError


class Command(BaseCommand):
    help = "EEBus connections: status, couple SKI, decouple SKI, disconnect SKI, connect HOST SKI."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--plant", type=int, help="plant id (default: the first plant)")
        sub = parser.add_subparsers(dest="action", required=True)
        status = sub.add_parser("status", help="own SKI, LPC/LPP state and limits, peers with their status")
        status.add_argument("--json", action="store_true", help="machine-readable output")
        for name, text in (
            ("couple", "trust this SKI"),
            ("decouple", "remove the trust of this SKI and drop its connection"),
            ("disconnect", "drop the connection of this SKI, keep the trust"),
        ):
            sub.add_parser(name, help=text).add_argument("ski")
        connect = sub.add_parser("connect", help="couple and dial a node by host and SKI")
        connect.add_argument("host")
        connect.add_argument("ski")
        connect.add_argument("--port", type=int, default=4712)

    def _plant(self, plant_id: int | None) -> Any:
        plants = apps.get_model("plant", "Plant").objects.order_by("pk")
        plant = plants.filter(pk=plant_id).first() if plant_id is not None else plants.first()
        if plant is None:
            raise CommandError(f"no plant {plant_id}" if plant_id is not None else "no plant is set up yet")
        return plant

    def handle(self, *args: Any, **options: Any) -> None:
        plant = self._plant(options["plant"])
        action = options["action"]
        try:
            if action == "status":
                self._status(plant, options["json"])
                return
            if action == "connect":
                peer = store.connect(plant.pk, options["host"], options["port"], options["ski"])
            else:
                peer = {"couple": store.couple, "decouple": store.decouple, "disconnect": store.disconnect}[action](
                    plant.pk, options["ski"]
                )
        except (SkiError, store.PeerError) as exc:
            raise CommandError(str(exc)) from None
        if action in ("couple", "decouple"):
            self.stdout.write(f"{action}: {peer.ski} ({peer.label}) is now {peer.status_label()}")
        else:
            self.stdout.write(f"{action}: {peer.ski} ({peer.label}); serve_eebus acts on it within a second")

    def _status(self, plant: Any, as_json: bool) -> None:
        own = overview.own_identity(plant)
        peers = overview.peer_rows(plant)
        state = limits.summary(plant.pk)
        if as_json:
            data = {
                "plant": plant.pk,
                "ship_id": own.ship_id,
                "ski": own.ski,
                "port": own.port,
                "limits": state,
                "peers": peers,
            }
            self.stdout.write(json.dumps(data, default=str, indent=2))
            return
        write = self.stdout.write
        write(f"Plant {plant.pk}: {plant.name}")
        write(f"  SHIP ID: {own.ship_id}")
        write(f"  SKI:     {own.ski}" + (f"  ({own.error})" if own.error else ""))
        write(f"  port:    {own.port}")
        for line in limits.describe(state):
            write(f"  {line}")
        if not peers:
            write("  peers:   none")
        for row in peers:
            where = f"{row['host']}:{row['port']}" if row["host"] else "-"
            name = " ".join(p for p in (row["brand"], row["model"]) if p) or "-"
            write(f"  peer {row['ski']}  {row['status_label']:<14} {where:<24} {name}")
