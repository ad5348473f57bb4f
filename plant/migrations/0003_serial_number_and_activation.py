"""ACT-1: every plant gets a stable serial number; options remember how they were released; the
battery-management switch of earlier versions (``PowerSettings.battery_management_unlocked``)
becomes the plant's battery-management option, so a plant that had it keeps it."""

from django.db import migrations, models

from portal.activation import new_serial as _serial


def give_serials(apps, schema_editor):  # type: ignore[no-untyped-def]
    Plant = apps.get_model("plant", "Plant")
    taken = set(Plant.objects.exclude(serial_number=None).values_list("serial_number", flat=True))
    for plant in Plant.objects.filter(serial_number=None):
        serial = _serial()
        while serial in taken:
            serial = _serial()
        taken.add(serial)
        plant.serial_number = serial
        plant.save(update_fields=["serial_number"])


def carry_over_options(apps, schema_editor):  # type: ignore[no-untyped-def]
    PlantOption = apps.get_model("plant", "PlantOption")
    PowerSettings = apps.get_model("inverters", "PowerSettings")
    # Options switched on in the admin before activation codes existed keep working.
    PlantOption.objects.filter(active=True).update(source="upgrade")
    for plant_id in PowerSettings.objects.filter(battery_management_unlocked=True).values_list("plant_id", flat=True):
        PlantOption.objects.update_or_create(
            plant_id=plant_id, option="battery_management", defaults={"active": True, "source": "upgrade"}
        )


class Migration(migrations.Migration):
    dependencies = [
        ("plant", "0002_plantoption"),
        ("inverters", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="plant",
            name="serial_number",
            field=models.CharField(editable=False, max_length=32, null=True, verbose_name="serial number"),
        ),
        migrations.RunPython(give_serials, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="plant",
            name="serial_number",
            field=models.CharField(
                default=_serial,
                editable=False,
                help_text="The device's serial number; activation codes are bound to it (ACT-1).",
                max_length=32,
                unique=True,
                verbose_name="serial number",
            ),
        ),
        migrations.AddField(
            model_name="plantoption",
            name="code",
            field=models.CharField(blank=True, max_length=10, verbose_name="activation code"),
        ),
        migrations.AddField(
            model_name="plantoption",
            name="source",
            field=models.CharField(
                choices=[
                    ("code", "activation code"),
                    ("upgrade", "carried over from an earlier version"),
                    ("demo", "simulated demo plant"),
                ],
                default="code",
                max_length=16,
                verbose_name="released by",
            ),
        ),
        migrations.AlterField(
            model_name="plantoption",
            name="option",
            field=models.CharField(
                choices=[
                    ("wallbox", "Wallbox convenience functions"),
                    ("battery_management", "Battery management for PIKO MP plus"),
                ],
                max_length=32,
                verbose_name="option",
            ),
        ),
        migrations.RunPython(carry_over_options, migrations.RunPython.noop),
    ]
