"""The one Celery app: broker on Redis, the 1 s tick and the slow periodic jobs."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ksem_site.settings")

app = Celery("ksem_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
