from pathlib import Path

from meter.registers import markdown_table


def test_register_map_in_docs_is_the_served_one():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "modbus.md").read_text()
    assert markdown_table() in docs, "docs/modbus.md is stale: regenerate with python -m meter.registers"
