# The switch moved to the plant's options, released by activation codes (ACT-1); the plant's
# migration 0003 carries every plant that had it over first.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("inverters", "0001_initial"),
        ("plant", "0003_serial_number_and_activation"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="powersettings",
            name="battery_management_unlocked",
        ),
    ]
