"""Settings for the test suite: the production settings with a private var/ dir and Redis keys.

Each test session gets its own temporary var/ (database file, embedded Redis socket), so a
running ``make run`` and any number of test runs never share a database, a socket or keys.
Under pytest-xdist every worker is such a session of its own: the controller process imports
these settings too (and its environment reaches the workers), so a worker that finds itself
with the controller's var/ and prefix takes new ones. Subprocesses started by the tests inherit
their worker's KSEM_VAR_DIR and prefix (and KSEM_TEST_WORKER, so they keep them).
"""

import os
import tempfile

_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker and os.environ.get("KSEM_TEST_WORKER") != _worker:
    os.environ["KSEM_TEST_WORKER"] = _worker
    os.environ.pop("KSEM_VAR_DIR", None)
    os.environ.pop("KSEM_REDIS_PREFIX", None)

TEST_VAR_DIR_CREATED = "KSEM_VAR_DIR" not in os.environ
if TEST_VAR_DIR_CREATED:
    os.environ["KSEM_VAR_DIR"] = tempfile.mkdtemp(prefix=f"ksem-test-{_worker}-" if _worker else "ksem-test-")
os.environ.setdefault("KSEM_REDIS_PREFIX", f"ksemtest{os.getpid()}")

from ksem_site.settings import *  # noqa: E402,F403
