"""Reading a response for contacts, within bounds, never changing it.

The addon's `response` hook hands over every response of a child's inspected device that an
extractor knows (`extractor_for`). Here: a body over the size limit, or one that cannot be
decoded, is skipped; one that is not the documented shape is skipped too; each is counted. A
list that names its owner counts only if the owner is the account the device is signed in as.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

from mitmproxy import http

from agent.proxy.clients import Asker
from agent.proxy.contacts.base import Extraction, Extractor, Unparseable
from agent.proxy.recorder import Sighting

log = logging.getLogger("houserules.proxy")


class ContactReader:
    def __init__(self, max_body: int, counts: Counter[str]) -> None:
        self.max_body, self.counts = max_body, counts
        self._signed_in: dict[tuple[str, str], str] = {}  # (client, service) -> account

    def read(
        self, who: Asker, extractor: Extractor, url: str, response: http.Response, now: datetime
    ) -> Sighting | None:
        """The contacts in this response worth recording, if any."""
        body = self.body(response)
        if body is None:
            return None
        try:
            found = extractor.extract(url, body)
        except Unparseable as exc:
            self.counts[f"unparseable {extractor.SERVICE} responses"] += 1
            log.info("a %s response was not the documented shape (%s)", extractor.SERVICE, exc)
            return None
        return self._sighting(who, extractor.SERVICE, found, now)

    def body(self, response: http.Response) -> bytes | None:
        """The decoded body, or None (counted) when it is too big or cannot be decoded."""
        raw = response.raw_content
        if raw is None or len(raw) > self.max_body:  # None: streamed, being larger still
            self.counts["responses skipped: too big"] += 1
            return None
        try:
            body = response.get_content(strict=True) or b""
        except ValueError:
            self.counts["responses skipped: cannot decode"] += 1
            return None
        if len(body) > self.max_body:
            self.counts["responses skipped: too big"] += 1
            return None
        return body

    def _sighting(
        self, who: Asker, service: str, found: Extraction, now: datetime
    ) -> Sighting | None:
        key = (who.ip, service)
        if found.signed_in is not None:
            self._signed_in[key] = found.signed_in
        if found.owner is not None and found.owner != self._signed_in.get(key):
            self.counts["contact lists of other accounts skipped"] += 1
            return None
        if not found.contacts or who.child_name is None:
            return None
        return Sighting(who.child_name, who.key, service, found.contacts, found.listing, now)
