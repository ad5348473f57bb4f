"""The SHIP trust store of one plant, backed by the database (smartgrid.ship's ``TrustStore``
protocol).

The SHIP stack asks it from the event loop, where no database call may run; so it answers from a
copy of the plant's peers that the service refreshes every second (``refresh``, in a thread), and
what SHIP tells it (discoveries, SHIP IDs) is collected and written by the same refresh. A couple
or decouple on the page therefore takes effect within a second; a decoupled SKI is refused from
then on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from asgiref.sync import sync_to_async

from smartgrid.eebus import store
from smartgrid.eebus.ski import SkiError, normalise_ski


def _key(ski: str) -> str | None:
    try:
        return normalise_ski(ski)
    except SkiError:
        return None


class DbTrustStore:
    def __init__(self, plant_id: int) -> None:
        self.plant_id = plant_id
        self.views: dict[str, store.PeerView] = {}
        self._changes = store.Changes()
        self.loaded = False

    # --- smartgrid.ship's TrustStore protocol (called on the event loop; no I/O) ---

    def is_trusted(self, ski: str) -> bool:
        key = _key(ski)
        view = self.views.get(key) if key else None
        return bool(view and view.trusted)

    def ship_id_for(self, ski: str) -> str | None:
        key = _key(ski)
        if key is None:
            return None
        if key in self._changes.ship_ids:
            return self._changes.ship_ids[key]
        view = self.views.get(key)
        return view.ship_id if view and view.ship_id else None

    def remember_ship_id(self, ski: str, ship_id: str) -> None:
        key = _key(ski)
        if key is not None and ship_id and not self.ship_id_for(key):
            self._changes.ship_ids[key] = str(ship_id)[:200]

    def note_discovered(self, ski: str, host: str, port: int | None, txt: Mapping[str, Any]) -> None:
        key = _key(ski)
        if key is not None:
            self._changes.discovered[key] = store.discovered_fields(host, port, txt)

    # --- the service's side ---

    def note_error(self, ski: str, error: str) -> None:
        key = _key(ski)
        if key is not None:
            self._changes.errors[key] = error

    def disconnect_done(self, ski: str) -> None:
        self._changes.disconnects_done.add(ski)

    def trusted_peers(self) -> list[store.PeerView]:
        return [view for view in self.views.values() if view.trusted]

    async def refresh(self, connected: Iterable[str]) -> None:
        """Write what was learnt and the live connections, then read the peers again."""
        changes, self._changes = self._changes, store.Changes()
        live = list(connected)
        try:
            self.views = await sync_to_async(self._sync, thread_sensitive=True)(changes, live)
        except BaseException:
            # Keep what was learnt for the next try (the database may be back in a second).
            for ski, values in changes.discovered.items():
                self._changes.discovered.setdefault(ski, values)
            for ski, ship_id in changes.ship_ids.items():
                self._changes.ship_ids.setdefault(ski, ship_id)
            self._changes.disconnects_done |= changes.disconnects_done
            raise
        self.loaded = True

    def _sync(self, changes: store.Changes, connected: list[str]) -> dict[str, store.PeerView]:
        store.write_changes(self.plant_id, changes, connected)
        return store.load_views(self.plant_id)
