"""Tariff records in the admin, read-mostly: the pages and the API keep them consistent."""

from __future__ import annotations

from django.contrib import admin

from tariffs.models import DynamicPrice, EnergyHour, PriceSource, TariffSettings, TariffVersion


@admin.register(TariffSettings)
class TariffSettingsAdmin(admin.ModelAdmin[TariffSettings]):
    list_display = ["plant", "currency"]


@admin.register(TariffVersion)
class TariffVersionAdmin(admin.ModelAdmin[TariffVersion]):
    list_display = ["plant", "direction", "valid_from", "basic_charge", "created_at"]
    list_filter = ["plant", "direction"]


@admin.register(DynamicPrice)
class DynamicPriceAdmin(admin.ModelAdmin[DynamicPrice]):
    list_display = ["plant", "direction", "start", "end", "price", "source"]
    list_filter = ["plant", "direction", "source"]


@admin.register(PriceSource)
class PriceSourceAdmin(admin.ModelAdmin[PriceSource]):
    list_display = ["plant", "direction", "url", "enabled", "last_fetched_at", "last_error"]


@admin.register(EnergyHour)
class EnergyHourAdmin(admin.ModelAdmin[EnergyHour]):
    list_display = ["plant", "start", "purchase_mwh", "feed_in_mwh", "gap"]
    list_filter = ["plant", "gap"]
