"""The one Celery app: broker on Redis, the 1 s tick and the slow periodic jobs."""

import logging
import os

from celery import Celery
from celery.signals import after_setup_logger

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ksem_site.settings")
# Celery's Django fixup runs every system check when a worker or beat starts, which imports every
# URL configuration, view, form and the API schema: most of a worker's start-up, for pages it
# never serves. The checks run where they belong, in `manage.py migrate` (which `make run`, the
# compose `migrate` service and the systemd unit run before the stack) and `manage.py check`.
os.environ.setdefault("CELERY_SKIP_CHECKS", "1")

app = Celery("ksem_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@after_setup_logger.connect
def keep_process_log_file(logger: logging.Logger, **kwargs: object) -> None:
    """Celery replaces the root logger's handlers: the device's log file (device/logfiles.py) comes back."""
    from device.logfiles import attach_process_file

    attach_process_file(logger)


# The tariffs' periodic jobs: hours of energy history from the recorded totals, dynamic prices.
TARIFF_JOBS = {
    "tariffs energy history": ("tariffs.tasks.update_energy_history", 300.0),
    "tariffs dynamic prices": ("tariffs.tasks.fetch_dynamic_prices", 3600.0),
    "tariffs purge history": ("tariffs.tasks.purge_history", 3600.0),
}


@app.on_after_configure.connect
def add_tariff_jobs(sender: Celery, **kwargs: object) -> None:
    for name, (task, every_s) in TARIFF_JOBS.items():
        sender.add_periodic_task(every_s, sender.signature(task), name=name)
