"""The web interface and API over HTTPS: ``python -m ksem_site.https_server [--host H] [--port P]``.

The same ASGI application as the plain web process, served by uvicorn with a TLS context of our
own: TLS 1.2 at least (uvicorn's ``--ssl-*`` options cannot set a minimum version, and a
system's OpenSSL defaults differ), and the certificate from ``ksem_site.certificates``, generated
on first start. supervisord runs this as the program ``https`` (``KSEM_HTTPS_PORT``, 8443).

An installer may upload another certificate while this runs. Every handshake passes through the
SNI callback, which looks at the certificate file at most once a second and, when it changed,
loads it into a fresh context used from then on; a file that does not load is logged and the
previous certificate stays in service. No restart, no dropped connection.
"""

from __future__ import annotations

import argparse
import logging
import os
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("ksem_site.https")

RECHECK_S = 1.0
# A websocket frame larger than this closes the socket; the live socket expects none at all.
WS_MAX_SIZE_BYTES = 64 * 1024


class CertificateReloader:
    """Hands each TLS handshake the context of the certificate file as it is now."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.monotonic) -> None:
        from ksem_site.certificates import server_context

        self._load = server_context
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        self.current = server_context(path)
        self._stamp = self._stamp_now()
        self._checked_at = clock()

    def _stamp_now(self) -> tuple[int, int, int] | None:
        try:
            status = self.path.stat()
        except OSError:
            return None
        return (status.st_ino, status.st_mtime_ns, status.st_size)

    def refresh(self) -> bool:
        """Load the file again if it changed; True when a new certificate is now served."""
        with self._lock:
            self._checked_at = self._clock()
            stamp = self._stamp_now()
            if stamp is None or stamp == self._stamp:
                return False
            self._stamp = stamp
            try:
                self.current = self._load(self.path)
            except (OSError, ssl.SSLError) as exc:
                log.error(
                    "the HTTPS certificate in %s does not load (%s); still serving the previous one", self.path, exc
                )
                return False
            log.info("serving the HTTPS certificate from %s again after it changed", self.path)
            return True

    def _select(self, connection: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext) -> None:
        if self._clock() - self._checked_at >= RECHECK_S:
            self.refresh()
        connection.context = self.current

    def listening_context(self) -> ssl.SSLContext:
        from ksem_site.certificates import server_context

        context = server_context(self.path)
        context.sni_callback = self._select
        return context


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ksem_site.settings")
    import django
    from django.conf import settings

    django.setup()
    import uvicorn

    from ksem_site.certificates import ensure_certificate

    parser = argparse.ArgumentParser(description="The web interface and API over HTTPS.")
    parser.add_argument("--host", default=os.environ.get("KSEM_WEB_HOST") or "127.0.0.1")
    parser.add_argument("--port", type=int, default=settings.HTTPS_PORT)
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)

    path = ensure_certificate(Path(settings.HTTPS_DIR), list(settings.ALLOWED_HOSTS))
    reloader = CertificateReloader(path)
    config = uvicorn.Config(
        "ksem_site.asgi:application",
        host=args.host,
        port=args.port,
        ws="websockets-sansio",
        ws_max_size=WS_MAX_SIZE_BYTES,
        lifespan="off",
        access_log=False,
        # TLS ends here, so no proxy stands in front whose forwarded headers could be trusted.
        proxy_headers=False,
        ssl_context_factory=lambda _config, _default: reloader.listening_context(),
    )
    log.info("HTTPS on %s:%d with the certificate in %s", args.host, args.port, path)
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
