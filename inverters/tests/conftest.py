"""Shared fixtures of the inverter tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _jobs_run_here() -> Iterator[None]:
    """Detection and info jobs run in this process, as the worker runs them (the same task, the
    same device loop), without a broker in between: Celery's eager mode. ``test_jobs.py`` runs a
    real worker instead (and overrides this fixture)."""
    from ksem_site.celery import app
    from plant import jobs  # noqa: F401 - registers the task

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before
