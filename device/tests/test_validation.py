"""The checks of the network and time settings (DEV-2, DEV-7): table-driven, each bad value
refused with a message naming the problem."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device import validation
from device.services import Invalid, clean_network, clean_time

STATIC = {"host_name": "ksem", "addressing": "static", "address": "192.168.1.20", "netmask": "255.255.255.0",
          "gateway": "192.168.1.1", "dns": ["192.168.1.1"]}  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"host_name": "-ksem"}, "host_name", "hyphen"),
        ({"host_name": "ksem_1"}, "host_name", "letters, digits and hyphens"),
        ({"host_name": "k" * 64}, "host_name", "1 to 63"),
        ({"host_name": ""}, "host_name", "1 to 63"),
        ({"addressing": "auto"}, "addressing", "dhcp or static"),
        ({"address": "192.168.1.256"}, "address", "not an IPv4 address"),
        ({"address": "fe80::1"}, "address", "not an IPv4 address"),
        ({"address": "192.168.1.0"}, "address", "network's own or broadcast"),
        ({"address": "192.168.1.255"}, "address", "network's own or broadcast"),
        ({"address": "127.0.0.5", "gateway": "127.0.0.1"}, "address", "loopback"),
        ({"netmask": "255.0.255.0"}, "netmask", "not valid"),
        ({"netmask": "33"}, "netmask", "not valid"),
        ({"netmask": "255.255.255.254"}, "netmask", "/8 and /30"),
        ({"gateway": "10.0.0.1"}, "gateway", "not in the device's network 192.168.1.0/24"),
        ({"gateway": "192.168.1.20"}, "gateway", "own address"),
        ({"gateway": "gw"}, "gateway", "not an IPv4 address"),
        ({"dns": []}, "dns", "at least one DNS server"),
        ({"dns": ["1.1.1.1", "8.8.8.8", "9.9.9.9"]}, "dns", "At most two"),
        ({"dns": ["dns.example"]}, "dns", "not an IP address"),
        ({"dns": "1.1.1.1 nope"}, "dns", "not an IP address"),
        ({"dns": 5}, "dns", "list"),
    ],
)
def test_bad_network_settings_name_the_field_and_the_problem(changes: dict, field: str, words: str):
    with pytest.raises(Invalid) as refused:
        clean_network({**STATIC, **changes})
    assert field in refused.value.errors, refused.value.errors
    assert words in refused.value.errors[field]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, {"address": "192.168.1.20", "netmask": "255.255.255.0", "gateway": "192.168.1.1", "dns": ["192.168.1.1"]}),
        ({"netmask": "/16", "gateway": "192.168.200.1"}, {"netmask": "255.255.0.0", "gateway": "192.168.200.1"}),
        ({"dns": "1.1.1.1, 2606:4700:4700::1111"}, {"dns": ["1.1.1.1", "2606:4700:4700::1111"]}),
        ({"addressing": "dhcp", "address": "garbage"}, {"addressing": "dhcp", "address": "", "dns": []}),
        ({"host_name": " ksem-g2 "}, {"host_name": "ksem-g2"}),
    ],
)
def test_good_network_settings_are_cleaned(changes: dict, expected: dict):
    cleaned = clean_network({**STATIC, **changes})
    assert {key: cleaned[key] for key in expected} == expected


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"time_zone": "Mars/Olympus", "ntp_enabled": False}, "time_zone", "not a known time zone"),
        ({"time_zone": "", "ntp_enabled": False}, "time_zone", "not a known time zone"),
        ({"time_zone": "Europe/Berlin", "ntp_enabled": True, "ntp_server": ""}, "ntp_server", "Enter a server"),
        ({"time_zone": "UTC", "ntp_enabled": True, "ntp_server": "ntp..example"}, "ntp_server", "valid host name"),
        ({"time_zone": "UTC", "ntp_enabled": True, "ntp_server": "ntp_1.example"}, "ntp_server", "valid host name"),
        ({"time_zone": "UTC", "ntp_enabled": True, "ntp_server": "1.2.3"}, "ntp_server", "valid host name"),
        ({"time_zone": "UTC", "ntp_enabled": 3, "ntp_server": "pool.ntp.org"}, "ntp_enabled", "true or false"),
    ],
)
def test_bad_time_settings_name_the_field(data: dict, field: str, words: str):
    with pytest.raises(Invalid) as refused:
        clean_time(data)
    assert words in refused.value.errors[field]


@pytest.mark.parametrize(
    ("server", "cleaned"),
    [("pool.ntp.org", "pool.ntp.org"), ("PTB.de.", "ptb.de"), ("192.0.2.1", "192.0.2.1"), ("2001:db8::1", "2001:db8::1"),
     ("fritz-box", "fritz-box")],
)  # fmt: skip
def test_good_ntp_servers(server: str, cleaned: str):
    assert (
        clean_time({"time_zone": "Europe/Berlin", "ntp_enabled": True, "ntp_server": server})["ntp_server"] == cleaned
    )


@given(st.text(max_size=70))
def test_a_host_name_is_accepted_only_in_the_allowed_alphabet(text: str):
    try:
        cleaned = validation.host_name(text)
    except ValueError:
        return
    assert 1 <= len(cleaned) <= 63 and cleaned[0] != "-" and cleaned[-1] != "-"
    assert all(c.isascii() and (c.isalnum() or c == "-") for c in cleaned)


@pytest.mark.parametrize("offset", [float("nan"), 11 * 366 * 86400.0, -11 * 366 * 86400.0])
def test_absurd_clock_offsets_are_refused(offset: float):
    with pytest.raises(ValueError, match="ten years"):
        validation.clock_offset(offset)
