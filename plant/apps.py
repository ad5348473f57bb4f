from django.apps import AppConfig


class PlantConfig(AppConfig):
    name = "plant"

    def ready(self) -> None:
        """Every saved or deleted setting the cycle loads announces itself, so the cycle right
        after the save uses it (issue 13.9: not seconds later).

        And the portal learns which plant a request is about: the device apps' views ask
        ``portal.roles``, which sits below plant/ and so is handed the resolver from here."""
        from django.db import transaction
        from django.db.models.signals import post_delete, post_save

        from forecast.models import StoredForecast
        from inverters.models import Battery, Inverter, PowerSettings
        from meter.models import Meter
        from plant import backups, live
        from plant.models import Plant, PlantOption
        from plant.services import current_plant
        from portal import backup as portal_backup
        from portal import roles
        from smartgrid.models import GridLimits
        from tariffs import services as tariff_services
        from tariffs.models import DynamicPrice, TariffSettings, TariffVersion
        from wallbox.models import ChargingPlan, MainsSettings, TimeModeSchedule, Wallbox

        roles.use_request_plant(current_plant)
        from plant import planslots
        from wallbox import plans

        plans.slot_source = planslots.slots  # charging plans: forecast surplus and prices (issue 19.3)
        backups.register_kinds()  # backup and restore run as jobs in the worker (DEV-6)

        def changed(instance: object = None, **_kwargs: object) -> None:
            # After the commit: a worker that reloads at once must find the new rows.
            if live.announcing():
                plant_id = _plant_of(instance)
                transaction.on_commit(lambda: live.bump_config_generation(plant_id))

        def prices_stored(plant_id: int, **_kwargs: object) -> None:
            if live.announcing():
                live.bump_config_generation(plant_id)

        for model in (
            Plant,
            PlantOption,
            Meter,
            Inverter,
            Battery,
            PowerSettings,
            Wallbox,
            TimeModeSchedule,
            MainsSettings,
            GridLimits,
            # what a charging plan and grid-optimised battery charging plan with (issue 19)
            ChargingPlan,
            StoredForecast,
            TariffSettings,
            TariffVersion,
            DynamicPrice,
        ):
            uid = f"plant-config-generation-{model._meta.label}"
            post_save.connect(changed, sender=model, weak=False, dispatch_uid=f"{uid}-save")
            post_delete.connect(changed, sender=model, weak=False, dispatch_uid=f"{uid}-delete")
        # A restored backup (the page, the API, the command line): every plant's settings.
        portal_backup.restored.connect(
            lambda **_kwargs: live.bump_config_generation(), weak=False, dispatch_uid="plant-config-generation-restore"
        )
        # Prices stored in bulk (a file, a price source) send no model signal of their own.
        tariff_services.prices_stored.connect(prices_stored, weak=False, dispatch_uid="plant-config-generation-prices")


def _plant_of(instance: object) -> int | None:
    """The plant a saved or deleted setting belongs to (``None``: announce it to every plant)."""
    from plant.models import Plant

    if isinstance(instance, Plant):
        return instance.pk
    plant_id = getattr(instance, "plant_id", None)
    if isinstance(plant_id, int):
        return plant_id
    for parent in ("inverter", "wallbox"):  # a battery; a Time Mode schedule, a charging plan
        parent_id = getattr(instance, f"{parent}_id", None)
        if isinstance(parent_id, int):
            related = type(instance)._meta.get_field(parent).related_model  # type: ignore[attr-defined]
            # None when the parent went with it (a cascade): then every plant hears of it.
            found = related.objects.filter(pk=parent_id).values_list("plant_id", flat=True).first()
            return found if isinstance(found, int) else None
    return None
