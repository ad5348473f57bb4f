"""The solar-portal uplink (SP-1) and the portal that receives it.

Device side, per plant: ``Uplink`` (switch, endpoint, credential, status) and ``OutboxReport``
(one XML report per 15-minute interval, kept in the database until the portal acknowledged it).
Portal side: ``PortalPlant`` (a plant registered with the portal: serial, article number, its
credential, the machine id the portal issued) and ``ReceivedReport`` (each report stored once).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Uplink(models.Model):
    plant = models.OneToOneField("plant.Plant", on_delete=models.CASCADE, related_name="solarportal_uplink")
    enabled = models.BooleanField(_("activate data transfer to the solar portal"), default=False)
    endpoint_url = models.CharField(_("portal endpoint URL"), max_length=500, blank=True)
    credential_encrypted = models.TextField(blank=True, editable=False)
    # The first interval not yet put into the outbox (None: start at the interval running now).
    next_interval = models.DateTimeField(null=True, blank=True, editable=False)
    machine_id = models.CharField(_("machine ID"), max_length=64, blank=True, editable=False)
    last_request_at = models.DateTimeField(_("last request"), null=True, blank=True, editable=False)
    last_response_at = models.DateTimeField(_("last response"), null=True, blank=True, editable=False)
    last_response = models.CharField(_("last response text"), max_length=500, blank=True, editable=False)
    # Portal clock minus ours, from the Date header of the last response (seconds).
    clock_offset_s = models.FloatField(null=True, blank=True, editable=False)
    # Only one delivery runs per plant at a time (order): a lease taken by a conditional UPDATE.
    sending_until = models.DateTimeField(null=True, blank=True, editable=False)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("solar-portal uplink")

    def __str__(self) -> str:
        return f"solar-portal uplink of plant {self.plant_id}"


class OutboxReport(models.Model):
    plant = models.ForeignKey("plant.Plant", on_delete=models.CASCADE, related_name="solarportal_outbox")
    report_id = models.CharField(max_length=80, unique=True)
    interval_start = models.DateTimeField()
    xml = models.TextField()
    created_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["interval_start"]
        constraints = [
            models.UniqueConstraint(fields=["plant", "interval_start"], name="solarportal_outbox_plant_interval")
        ]
        indexes = [models.Index(fields=["plant", "sent_at", "interval_start"], name="solarportal_outbox_pending")]

    def __str__(self) -> str:
        return self.report_id


class PortalPlant(models.Model):
    serial_number = models.CharField(_("serial number"), max_length=32, unique=True)
    article_number = models.CharField(_("article number"), max_length=32, blank=True)
    name = models.CharField(_("name"), max_length=100, blank=True)
    credential_encrypted = models.TextField(editable=False)
    machine_id = models.CharField(_("machine ID"), max_length=64, unique=True, editable=False)
    registered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["serial_number"]
        verbose_name = _("plant registered with the portal")

    def __str__(self) -> str:
        return self.serial_number


class ReceivedReport(models.Model):
    portal_plant = models.ForeignKey(PortalPlant, on_delete=models.CASCADE, related_name="reports")
    report_id = models.CharField(max_length=80, unique=True)
    interval_start = models.DateTimeField()
    interval_end = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    import_wh = models.FloatField(null=True)
    export_wh = models.FloatField(null=True)
    pv_wh = models.FloatField(null=True)
    entries = models.PositiveSmallIntegerField(default=0)
    gaps = models.PositiveSmallIntegerField(default=0)
    xml = models.TextField()

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.report_id
