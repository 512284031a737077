"""What a query was for: an app from the catalogue, a site, or neither (infrastructure).

The query log names the app the rules engine matched. Where it did not (a safe-search rewrite,
a pause, a schedule that blocked a whole category), the catalogue's domains are matched here
the same way, so those queries still count for their app.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from agent.insights.recent import Recent
from agent.insights.sites import SiteNamer
from agent.insights.webrtc import is_stun_turn
from agent.rules.catalog import App, Catalog
from agent.rules.household import match_suffix

Thing = tuple[str, str]  # ("app", app id) | ("site", registrable domain)
# Names whose answer is remembered (twice this at most, `Recent`): far more than a household's
# names in use at once; ~200 bytes each.
NAMES_REMEMBERED = 4_096
# Minutes whose local day and hour are remembered: rows come in time order, so a day of them
# is more than a run needs.
MINUTES_REMEMBERED = 1_440


class Classifier:
    """Name (and the app the log gave it) -> Thing or None. Remembers its answers."""

    def __init__(self, catalog: Catalog, sites: SiteNamer | None = None) -> None:
        self.catalog = catalog
        self.sites = sites or SiteNamer()
        owners: dict[str, str] = {}
        for domain, _source, _category, app_id in catalog.index_entries():
            # A domain shared by several apps goes to the lowest id, as the rules engine does.
            owners[domain] = min(app_id, owners.get(domain, app_id))
        self._owners = owners
        self._domains = frozenset(owners)
        self._recent: Recent[str, Thing | None] = Recent(NAMES_REMEMBERED)

    def app(self, app_id: str | None) -> App | None:
        return self.catalog.get(app_id) if app_id else None

    def thing(self, name: str, app: str | None) -> Thing | None:
        if app:
            return ("app", app)
        try:
            return self._recent.new[name]
        except KeyError:
            return self._recent.add(name, self._classify)

    def _classify(self, name: str) -> Thing | None:
        if is_stun_turn(name):
            return None
        domain = match_suffix(name, self._domains)
        if domain is not None:
            return ("app", self._owners[domain])
        site = self.sites.site(name)
        return ("site", site) if site is not None else None


class LocalClock:
    """Unix minute -> the box's local date and hour; remembers its answers."""

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self._recent: Recent[int, tuple[str, int]] = Recent(MINUTES_REMEMBERED)

    def at(self, minute: int) -> tuple[str, int]:
        """(local day "YYYY-MM-DD", local hour) of a unix minute."""
        try:
            return self._recent.new[minute]
        except KeyError:
            return self._recent.add(minute, self._day_and_hour)

    def _day_and_hour(self, minute: int) -> tuple[str, int]:
        moment = datetime.fromtimestamp(minute * 60, self.tz)
        return (moment.date().isoformat(), moment.hour)

    def local(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, self.tz)


def thing_label(thing: Thing) -> str:
    """ "app:zoom" / "site:bbc.co.uk": how a thing is stored in one column."""
    return f"{thing[0]}:{thing[1]}"
