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

        from inverters.models import Battery, Inverter, PowerSettings
        from meter.models import Meter
        from plant import backups, live
        from plant.models import Plant, PlantOption
        from plant.services import current_plant
        from portal import roles
        from smartgrid.models import GridLimits
        from wallbox.models import MainsSettings, TimeModeSchedule, Wallbox

        roles.use_request_plant(current_plant)
        from plant import planslots
        from wallbox import plans

        plans.slot_source = planslots.slots  # charging plans: forecast surplus and prices (issue 19.3)
        backups.register_kinds()  # backup and restore run as jobs in the worker (DEV-6)

        def changed(**_kwargs: object) -> None:
            # After the commit: a worker that reloads at once must find the new rows.
            if live.announcing():
                transaction.on_commit(live.bump_config_generation)

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
        ):
            uid = f"plant-config-generation-{model._meta.label}"
            post_save.connect(changed, sender=model, weak=False, dispatch_uid=f"{uid}-save")
            post_delete.connect(changed, sender=model, weak=False, dispatch_uid=f"{uid}-delete")
