"""The open-source components of the product and their licences (DEV-9), from what is installed.

Generated at request time from the installed Python distributions (``importlib.metadata``): name,
version, licence (the ``License-Expression`` field, else the licence classifiers, else a short
``License`` field) and homepage; plus the browser libraries shipped under ``static/vendor``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from email.message import Message
from importlib import metadata
from pathlib import Path
from typing import cast

from django.conf import settings

# A ``License`` field longer than this is the licence's full text, not its name.
SHORT_LICENCE = 80
HOMEPAGE_LABELS = ("homepage", "home", "home-page", "source", "source code", "repository", "documentation")
VENDOR_BANNER = re.compile(r"^\s*\*\s*(?P<name>[\w.\- ]+?) v(?P<version>\d[\w.\-]*)\s*$", re.MULTILINE)
VENDOR_URL = re.compile(r"^\s*\*\s*(?P<url>https?://\S+)\s*$", re.MULTILINE)
VENDOR_LICENCE = re.compile(r"Released under the (?P<licence>[\w.\- ]+?) Licen[cs]e", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Component:
    name: str
    version: str
    licence: str
    homepage: str
    kind: str  # "python" or "browser"


def licence_of(meta: Message) -> str:
    """The licence as a name people know: SPDX expression, else classifiers, else a short text."""
    expression = (meta.get("License-Expression") or "").strip()
    if expression:
        return expression
    classifiers = [
        c.split("::")[-1].strip()
        for c in meta.get_all("Classifier") or []
        if c.startswith("License ::") and c.count("::") >= 2
    ]
    if classifiers:
        return ", ".join(dict.fromkeys(classifiers))
    text = " ".join((meta.get("License") or "").split())
    if text and text.upper() != "UNKNOWN":
        return text if len(text) <= SHORT_LICENCE else text[: SHORT_LICENCE - 1].rstrip() + "…"
    return ""


def _web(url: str) -> str:
    """Only a web address becomes a link (metadata is free text)."""
    url = url.strip()
    return url if url.startswith(("https://", "http://")) and " " not in url else ""


def homepage_of(meta: Message) -> str:
    home = _web(meta.get("Home-page") or "")
    urls = {}
    for entry in meta.get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        if _web(url):
            urls[label.strip().lower()] = _web(url)
    if home:
        return home
    return next((urls[label] for label in HOMEPAGE_LABELS if urls.get(label)), next(iter(urls.values()), ""))


def python_components() -> list[Component]:
    found: dict[str, Component] = {}
    for dist in metadata.distributions():
        meta = cast(Message, dist.metadata)  # an email.message.Message underneath
        name = (meta.get("Name") or "").strip()
        if not name:
            continue
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            continue
        found[key] = Component(name, dist.version, licence_of(meta), homepage_of(meta), "python")
    return sorted(found.values(), key=lambda c: c.name.lower())


def browser_components(vendor: Path) -> list[Component]:
    """Libraries shipped for the browser: each ``static/vendor/<name>/`` with its banner comment."""
    result = []
    for folder in sorted(p for p in vendor.iterdir() if p.is_dir()) if vendor.is_dir() else []:
        for script in sorted(folder.glob("*.js")):
            head = script.read_text(encoding="utf-8", errors="replace")[:1000]
            banner, url, licence = VENDOR_BANNER.search(head), VENDOR_URL.search(head), VENDOR_LICENCE.search(head)
            if banner is None:
                continue
            result.append(
                Component(
                    banner["name"].strip(),
                    banner["version"],
                    licence["licence"].strip() if licence else "",
                    url["url"] if url else "",
                    "browser",
                )
            )
            break
    return result


@functools.cache
def components() -> tuple[Component, ...]:
    """Everything, Python first; cached: the installed packages do not change while the process runs."""
    vendor = Path(settings.BASE_DIR) / "static" / "vendor"
    return tuple(python_components() + browser_components(vendor))
