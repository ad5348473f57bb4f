"""The licences page (DEV-9): the open-source components, generated from what is installed."""

from __future__ import annotations

from email.message import Message
from importlib import metadata

import pytest
from django.test import Client
from django.urls import reverse

from ksem_site.licences import homepage_of, licence_of
from plant.models import Plant
from tests.pages import by_testid


def meta(**fields: str | list[str]) -> Message:
    message = Message()
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            message[name.replace("_", "-")] = item
    return message


@pytest.mark.parametrize(
    ("fields", "licence"),
    [
        ({"License_Expression": "BSD-3-Clause", "License": "old text"}, "BSD-3-Clause"),
        ({"Classifier": ["Framework :: Django", "License :: OSI Approved :: MIT License"]}, "MIT License"),
        ({"License": "Apache 2.0"}, "Apache 2.0"),
        ({"License": "UNKNOWN"}, ""),
        (
            {"License": "Permission is hereby granted, free of charge, " * 5},
            "Permission is hereby granted, free of charge, Permission is hereby granted, fre…",
        ),
        ({}, ""),
    ],
)
def test_the_licence_comes_from_the_expression_the_classifiers_or_a_short_text(fields: dict, licence: str) -> None:
    assert licence_of(meta(**fields)) == licence


@pytest.mark.parametrize(
    ("fields", "homepage"),
    [
        ({"Home_page": "https://example.org"}, "https://example.org"),
        ({"Project_URL": ["Changelog, https://x.org/changes", "Source, https://x.org/src"]}, "https://x.org/src"),
        ({"Home_page": "javascript:alert(1)"}, ""),
        ({}, ""),
    ],
)
def test_only_a_web_address_becomes_the_homepage(fields: dict, homepage: str) -> None:
    assert homepage_of(meta(**fields)) == homepage


@pytest.fixture
def plant(db: None) -> Plant:
    return Plant.objects.create(name="Home", time_zone="Europe/Berlin")


def rows(page: str) -> dict[str, str]:
    from plant.tests.test_overview_page import rows as testid_rows

    return {name: text for name, (text, _) in testid_rows(page, "licence-row").items()}


def test_the_page_lists_django_with_its_version_and_licence(user_client: Client, plant: Plant) -> None:
    page = user_client.get(reverse("licences")).content.decode()

    listed = rows(page)
    django_version = metadata.version("Django")
    assert listed["Django"] == f"Django {django_version} BSD-3-Clause https://www.djangoproject.com/"
    assert listed["celery"].startswith(f"celery {metadata.version('celery')} BSD")
    assert listed["Chart.js"] == "Chart.js 4.6.1 MIT https://www.chartjs.org", (
        "the browser library shipped with the pages"
    )
    assert len(listed) >= len({d.metadata["Name"].lower() for d in metadata.distributions()})


def test_every_page_links_to_it(user_client: Client, plant: Plant) -> None:
    page = user_client.get(reverse("plant:dashboard")).content.decode()
    assert by_testid(page, "licences-link")[1]["href"] == reverse("licences") == "/licences/"


def test_it_needs_a_login(client: Client, plant: Plant) -> None:
    response = client.get(reverse("licences"))
    assert response.status_code == 302 and reverse("portal:login") in response["Location"]
