"""Settings for the test suite: the production settings with a private var/ dir and Redis keys.

Each test session gets its own temporary var/ (database file, embedded Redis socket), so a
running ``make run`` and any number of test runs never share a database, a socket or keys.
Subprocesses started by the tests inherit the session's KSEM_VAR_DIR.
"""

import os
import tempfile

TEST_VAR_DIR_CREATED = "KSEM_VAR_DIR" not in os.environ
if TEST_VAR_DIR_CREATED:
    os.environ["KSEM_VAR_DIR"] = tempfile.mkdtemp(prefix="ksem-test-")
os.environ.setdefault("KSEM_REDIS_PREFIX", f"ksemtest{os.getpid()}")

from ksem_site.settings import *  # noqa: E402,F403
