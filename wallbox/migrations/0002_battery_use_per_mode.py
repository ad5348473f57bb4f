"""WB-7: the one "use the house battery" checkbox becomes one setting per mode (Power, Solar
Pure, Solar Plus); each box's old value is carried into all three."""

from typing import Any

from django.db import migrations, models

FIELDS = ("battery_use_power", "battery_use_solar_pure", "battery_use_solar_plus")


def per_mode(apps: Any, schema_editor: Any) -> None:
    Wallbox = apps.get_model("wallbox", "Wallbox")
    Wallbox.objects.filter(battery_use=True).update(**dict.fromkeys(FIELDS, True))


def one_checkbox(apps: Any, schema_editor: Any) -> None:
    """Back: the battery counts as used if any mode used it."""
    Wallbox = apps.get_model("wallbox", "Wallbox")
    used = (
        models.Q(battery_use_power=True) | models.Q(battery_use_solar_pure=True) | models.Q(battery_use_solar_plus=True)
    )
    Wallbox.objects.filter(used).update(battery_use=True)


class Migration(migrations.Migration):
    dependencies = [
        ("wallbox", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="wallbox",
            name="battery_use_power",
            field=models.BooleanField(
                default=False,
                help_text="On: the vehicle may drain the house battery down to its minimum SoC.",
                verbose_name="use the house battery in Power Mode",
            ),
        ),
        migrations.AddField(
            model_name="wallbox",
            name="battery_use_solar_pure",
            field=models.BooleanField(
                default=False,
                help_text="On: charging does not stop for lack of PV until the house battery reaches its minimum SoC.",
                verbose_name="use the house battery in Solar Pure Mode",
            ),
        ),
        migrations.AddField(
            model_name="wallbox",
            name="battery_use_solar_plus",
            field=models.BooleanField(
                default=False,
                help_text="On: charging does not stop for lack of PV until the house battery reaches its minimum SoC.",
                verbose_name="use the house battery in Solar Plus Mode",
            ),
        ),
        migrations.RunPython(per_mode, one_checkbox),
        migrations.RemoveField(
            model_name="wallbox",
            name="battery_use",
        ),
    ]
