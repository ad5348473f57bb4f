"""EEBus peers per plant (SG-4): every SHIP node the plant's service found over mDNS, was told
about by an installer, or that dialled in; whether it is trusted (coupled); what the running
service last knew of its connection.

The running service (``serve_eebus``) is the only writer of the connection fields
(``connected_since``, ``alive_at``); pages, the API and the console write trust and ask for a
disconnect, and the service carries it out within a second. A connection counts as live only
while the service keeps ``alive_at`` fresh, so a killed service shows "not connected", not a
stale "connected".
"""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# The service refreshes alive_at every second while a connection is up; older than this = gone.
ALIVE_WITHIN_S = 10.0


class PeerStatus(models.TextChoices):
    NOT_COUPLED = "not_coupled", _("not coupled")
    COUPLED = "coupled", _("coupled")
    CONNECTED = "connected", _("connected")
    NOT_CONNECTED = "not_connected", _("not connected")


class EebusPeer(models.Model):
    plant = models.ForeignKey("plant.Plant", on_delete=models.CASCADE, related_name="eebus_peers")
    ski = models.CharField(max_length=40, help_text="the peer's SKI: 40 lower-case hex digits")
    ship_id = models.CharField(max_length=200, blank=True, help_text="SHIP ID, remembered at the first connection")
    host = models.CharField(max_length=255, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)
    brand = models.CharField(max_length=64, blank=True)
    model = models.CharField(max_length=64, blank=True)
    device_type = models.CharField(max_length=64, blank=True)
    description = models.CharField(max_length=200, blank=True)
    trusted = models.BooleanField(default=False)
    # Seen over mDNS (discovered) or dialled in; None for a peer only entered by hand.
    last_seen = models.DateTimeField(null=True, blank=True)
    # Set by the service while a SHIP connection is up, cleared when it ends.
    connected_since = models.DateTimeField(null=True, blank=True)
    alive_at = models.DateTimeField(null=True, blank=True)
    # Ever had a connection since it was coupled: "not connected" rather than "coupled".
    was_connected = models.BooleanField(default=False)
    disconnect_requested = models.BooleanField(default=False)
    last_error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-trusted", "ski"]
        constraints = [models.UniqueConstraint(fields=["plant", "ski"], name="eebus_peer_unique_ski_per_plant")]

    def __str__(self) -> str:
        return f"{self.label} ({self.ski})"

    @property
    def label(self) -> str:
        return " ".join(part for part in (self.brand, self.model) if part) or self.host or self.ski[:8]

    def is_connected(self, now: dt.datetime | None = None) -> bool:
        if self.connected_since is None or self.alive_at is None:
            return False
        now = now or timezone.now()
        return (now - self.alive_at).total_seconds() <= ALIVE_WITHIN_S

    def status(self, now: dt.datetime | None = None) -> str:
        if not self.trusted:
            return PeerStatus.NOT_COUPLED
        if self.is_connected(now):
            return PeerStatus.CONNECTED
        return PeerStatus.NOT_CONNECTED if self.was_connected else PeerStatus.COUPLED

    def status_label(self) -> str:
        return str(PeerStatus(self.status()).label)
