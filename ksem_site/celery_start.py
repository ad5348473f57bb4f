"""Start the Celery worker or beat of this project: ``python -m ksem_site.celery_start worker|beat OPTIONS``.

The same options as ``celery -A ksem_site worker`` / ``celery -A ksem_site beat``, parsed by
Celery's own ``worker`` and ``beat`` commands. What it leaves out is the ``celery`` program
around them, which loads every subcommand it offers on start, the interactive shell of
``celery amqp`` with its prompt toolkit and Unicode width tables among them: a third of a
worker's start-up CPU time, spent on every restart for commands a worker never runs.
``ksem_site.supervisor`` starts worker and beat this way; ``celery -A ksem_site ...`` works
as before (compose, development, ``celery inspect``).
"""

from __future__ import annotations

import sys

USAGE = "usage: python -m ksem_site.celery_start {worker,beat} [celery worker/beat options]"


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in {"worker", "beat"}:
        sys.exit(USAGE)
    name, args = argv[0], argv[1:]
    from celery.bin.base import CLIContext

    from ksem_site.celery import app

    if name == "worker":
        from celery.bin.worker import worker as command
    else:
        from celery.bin.beat import beat as command
    context = CLIContext(app=app, no_color=False, workdir=None, quiet=False)
    command.main(args=args, prog_name=f"celery -A ksem_site {name}", obj=context)


if __name__ == "__main__":
    main(sys.argv[1:])
