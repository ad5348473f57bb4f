"""The one house battery checkbox becomes one setting per mode (WB-7): each box keeps its choice
in all three modes, and going back keeps "used" if any mode used it."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

# The plant as it was then too (its later serial number would need a value old code cannot give).
BEFORE = [("wallbox", "0001_initial"), ("plant", "0002_plantoption")]
AFTER = [("wallbox", "0002_battery_use_per_mode")]


def migrate(targets: list[tuple[str, str]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_the_single_setting_is_carried_into_every_mode_and_back():
    old = migrate(BEFORE)
    plant = old.get_model("plant", "Plant").objects.create(name="Home")
    boxes = old.get_model("wallbox", "Wallbox").objects
    boxes.create(plant=plant, name="uses", interface="B", battery_use=True)
    boxes.create(plant=plant, name="keeps", interface="B", address=101, battery_use=False)

    new = migrate(AFTER)
    fields = ("battery_use_power", "battery_use_solar_pure", "battery_use_solar_plus")
    rows = {b["name"]: b for b in new.get_model("wallbox", "Wallbox").objects.values("name", *fields)}
    assert [rows["uses"][f] for f in fields] == [True, True, True]
    assert [rows["keeps"][f] for f in fields] == [False, False, False]
    new.get_model("wallbox", "Wallbox").objects.filter(name="keeps").update(battery_use_solar_plus=True)

    back = migrate(BEFORE)
    used = dict(back.get_model("wallbox", "Wallbox").objects.values_list("name", "battery_use"))
    assert used == {"uses": True, "keeps": True}
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
