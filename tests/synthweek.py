"""A recorded-style, synthetic week of DNS queries for a family of two children.

Deterministic (seeded). The rows are what the DNS server would log: every lookup goes through
the real `agent.rules.decide` with the real app catalogue, the shipped bypass list and the
safe-search data, for a household stored with the real household store. The week is ISO week
2026-W47, Monday 16 to Sunday 22 November 2026, Europe/London (UTC+0 in November).

Sam is 11 (phone, tablet), Alex is 15 (phone, laptop); a parent has a phone. What happens:
- Every device on the network makes background lookups (connectivity checks, time, push) every
  20-30 minutes; phones are away at school on weekdays 08:15-15:45.
- Sam's tablet refreshes Roblox with one lookup at 11:00 on school days and at 03:00 every
  night: single keep-alives in otherwise idle hours, which must not count as use.
- Sam: Roblox after school (tablet, 16:00-16:59; 16:30-16:59 on Thursday), websites in the
  evening, TikTok tried on Monday 17:30 (blocked: 13+), a 20-minute Zoom call for school on
  Thursday 16:00 (a parent allowed Zoom), OmeTV at 23:10 on Friday during Bedtime, Roblox on
  Saturday morning.
- Alex: Instagram before school, homework searches on Monday, an evening of YouTube on the
  laptop on Tuesday 19:00-20:59, YouTube on other evenings, Discord for the first time on
  Wednesday 16:05, encrypted DNS (dns.google, cloudflare-dns.com) tried on Saturday 14:00,
  Firefox's canary whenever the laptop starts its browser (16:00 on school days).
- Alex's laptop goes silent on Thursday after 18:37 while still on the network (as if it had
  switched to another resolver) until Friday 07:07.
- A friend's phone, unknown to the box, joins on Saturday 15:00.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from agent.config import SHIPPED_LISTS, RulesConfig
from agent.lists.index import IndexBuilder, ListIndex
from agent.lists.parse import parse_lines
from agent.rules.catalog import Catalog, load_catalog
from agent.rules.decide import decide
from agent.rules.household import Household
from agent.rules.policy import Policy
from agent.rules.safesearch import load_safesearch
from agent.store import household as store
from agent.store.querylog import LogEntry

TZ = ZoneInfo("Europe/London")
MONDAY = date(2026, 11, 16)
SEED = 47
UPSTREAM = "9.9.9.9:53"


@dataclass(frozen=True)
class Dev:
    key: str
    mac: str
    ip: str
    name: str | None
    owner: str  # "child" | "adult" | "" (unknown to the box)
    child: str | None = None


SAM_PHONE = Dev("sam-phone", "02:00:00:00:00:21", "192.168.1.21", "Sam's phone", "child", "Sam")
SAM_TABLET = Dev("sam-tablet", "02:00:00:00:00:22", "192.168.1.22", "Sam's tablet", "child", "Sam")
ALEX_PHONE = Dev("alex-phone", "02:00:00:00:00:31", "192.168.1.31", "Alex's phone", "child", "Alex")
ALEX_LAPTOP = Dev(
    "alex-laptop", "02:00:00:00:00:32", "192.168.1.32", "Alex's laptop", "child", "Alex"
)
PARENT_PHONE = Dev("parent-phone", "02:00:00:00:00:11", "192.168.1.11", "Parent's phone", "adult")
FRIEND_PHONE = Dev("friend-phone", "02:00:00:00:00:99", "192.168.1.99", None, "")
KNOWN = (SAM_PHONE, SAM_TABLET, ALEX_PHONE, ALEX_LAPTOP, PARENT_PHONE)
ALL = (*KNOWN, FRIEND_PHONE)

SILENT_FROM = datetime(2026, 11, 19, 18, 38, tzinfo=TZ)  # Alex's laptop: no DNS from here...
SILENT_UNTIL = datetime(2026, 11, 20, 7, 0, tzinfo=TZ)  # ...until here
FRIEND_FROM = datetime(2026, 11, 21, 15, 0, tzinfo=TZ)
FRIEND_UNTIL = datetime(2026, 11, 21, 15, 30, tzinfo=TZ)
END = datetime(2026, 11, 23, 0, 30, tzinfo=TZ)  # the last run: after every row of the week

BACKGROUND = {
    "phone": ["connectivitycheck.gstatic.com", "time.apple.com", "gateway.icloud.com"],
    "laptop": ["www.msftconnecttest.com", "settings-win.data.microsoft.com", "time.windows.com"],
}
ROBLOX = ["www.roblox.com", "apis.roblox.com", "tr.rbxcdn.com", "c0.rbxcdn.com"]
YOUTUBE = ["www.youtube.com", "i.ytimg.com", "rr3---sn-aigl6nze.googlevideo.com", "yt3.ggpht.com"]
DISCORD = ["discord.com", "gateway.discord.gg", "cdn.discordapp.com", "media.discordapp.net"]
INSTAGRAM = ["i.instagram.com", "graph.instagram.com", "scontent.cdninstagram.com"]


def day(n: int) -> date:
    """Day n of the week: 0 = Monday 16 November."""
    return MONDAY + timedelta(days=n)


def at(n: int, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day(n), time(hour, minute), TZ)


def build_household(engine: Engine) -> Household:
    """Store the family with the real household store and return its snapshot."""
    today = day(0)
    sam = store.add_child(engine, "Sam", date(2015, 3, 10), today=today)
    alex = store.add_child(engine, "Alex", date(2011, 6, 1), today=today)
    ids = {"Sam": sam.id, "Alex": alex.id}
    for d in KNOWN:
        owner_id = ids.get(d.child or "")
        store.add_device(engine, mac=d.mac, ip=d.ip, name=d.name, owner=d.owner, child_id=owner_id)
    store.add_schedule(engine, sam.id, "Bedtime", range(7), time(21), time(7), block_all=True)
    school_nights = (6, 0, 1, 2, 3)  # Sunday to Thursday
    store.add_schedule(
        engine, alex.id, "Bedtime", school_nights, time(22, 30), time(6, 30), block_all=True
    )
    store.add_rule(engine, sam.id, "allow", "app", "zoom")  # school lessons on Zoom
    return store.load_household(engine)


def build_index(catalog: Catalog) -> ListIndex:
    builder = IndexBuilder()
    for domain, source, category, app_id in catalog.index_entries():
        builder.add(domain, source, category, app_id)
    parsed = parse_lines((SHIPPED_LISTS / "bypass.txt").read_text().splitlines())
    builder.add_many(parsed.blocked, "bypass", "bypass")
    return builder.build()


def neighbours() -> dict[str, str]:
    """The neighbour table the DNS server saw (every device is on the LAN)."""
    return {d.ip: d.mac for d in ALL}


def make_policy(household: Household, catalog: Catalog | None = None) -> Policy:
    catalog = catalog or load_catalog()
    return Policy(
        index=build_index(catalog),
        household=household,
        catalog=catalog,
        safesearch=load_safesearch(),
        neighbours=neighbours(),
        rules=RulesConfig(timezone="Europe/London"),
    )


def present(dev: Dev, moment: datetime) -> bool:
    """Whether a device is on the home network (in the neighbour table) at `moment`."""
    if dev is FRIEND_PHONE:
        return FRIEND_FROM <= moment < FRIEND_UNTIL
    if dev in (SAM_PHONE, ALEX_PHONE) and moment.weekday() < 5:
        return not (time(8, 15) <= moment.time() < time(15, 45))
    return True


def presence(moment: datetime) -> dict[str, str]:
    """The neighbour table at `moment`: IP -> MAC of the devices at home."""
    return {d.ip: d.mac for d in ALL if present(d, moment)}


def run_times() -> list[datetime]:
    """When the test runs the insights job: four times a day, and once after the week."""
    hours = (8, 12, 17, 21)
    return [at(n, h) for n in range(7) for h in hours] + [END]


class Lookups:
    """Collects (time, device, name) lookups. Each burst draws from its own seeded generator,
    so changing one part of the week leaves the rest as it was."""

    def __init__(self, seed: int = SEED) -> None:
        self.seed = seed
        self.items: list[tuple[float, Dev, str, int]] = []

    def _rng(self, *parts: object) -> random.Random:
        return random.Random(":".join(map(str, (self.seed, *parts))))

    def add(self, dev: Dev, moment: datetime, name: str, both: bool = False) -> None:
        self.items.append((moment.timestamp(), dev, name, 1))
        if both:  # a device with IPv6 asks for the AAAA record too
            self.items.append((moment.timestamp() + 0.01, dev, name, 28))

    def burst(self, dev: Dev, start: datetime, minutes: int, names: list[str], every: int = 2):
        """Active use: lookups at `start` + 0, every, 2*every... and in the last minute."""
        rng = self._rng(dev.key, start.isoformat())
        for offset in sorted({*range(0, minutes, every), minutes - 1}):
            moment = start + timedelta(minutes=offset, seconds=rng.randrange(50))
            for name in rng.sample(names, k=min(2, len(names))):
                self.add(dev, moment, name, both=rng.random() < 0.5)
                moment += timedelta(seconds=rng.randrange(1, 5))

    def keepalives(self, dev: Dev, names: list[str], every: int, offset: int) -> None:
        """One background lookup every `every` minutes while the device is at home."""
        rng = self._rng(dev.key, "background")
        moment = at(0, 0, offset)
        while moment < at(7, 0):
            if present(dev, moment) and not _silenced(dev, moment):
                self.add(dev, moment + timedelta(seconds=7), rng.choice(names))
            moment += timedelta(minutes=every)


def _silenced(dev: Dev, moment: datetime) -> bool:
    return dev is ALEX_LAPTOP and SILENT_FROM <= moment < SILENT_UNTIL


def _background(lk: Lookups) -> None:
    lk.keepalives(SAM_PHONE, BACKGROUND["phone"], 20, 3)
    lk.keepalives(SAM_TABLET, BACKGROUND["phone"], 20, 11)
    lk.keepalives(ALEX_PHONE, BACKGROUND["phone"], 20, 5)
    lk.keepalives(ALEX_LAPTOP, BACKGROUND["laptop"], 30, 7)
    lk.keepalives(PARENT_PHONE, BACKGROUND["phone"], 20, 13)
    for n in range(7):
        lk.add(SAM_TABLET, at(n, 3, 0) + timedelta(seconds=21), "apis.roblox.com")
        if n < 5:
            lk.add(SAM_TABLET, at(n, 11, 0) + timedelta(seconds=42), "apis.roblox.com")


def _sam(lk: Lookups) -> None:
    for n in range(5):
        start = at(n, 16, 30) if n == 3 else at(n, 16)
        lk.burst(SAM_TABLET, start, 30 if n == 3 else 60, ROBLOX)
    evening = {0: "bbc.co.uk", 1: "coolmathgames.com", 2: "bbc.co.uk", 3: "coolmathgames.com"}
    for n, site in evening.items():
        lk.burst(SAM_PHONE, at(n, 19), 25, [f"www.{site}", f"static.{site}", f"img.{site}"])
    lk.burst(SAM_PHONE, at(4, 19), 30, ["en.wikipedia.org", "upload.wikimedia.org"])
    for k in range(6):  # TikTok, tried again and again: blocked for an 11-year-old
        lk.add(SAM_PHONE, at(0, 17, 30) + timedelta(seconds=25 * k), "www.tiktok.com", True)
    zoom = ["zoom.us", "us04web.zoom.us", "zoomgov.zoom.us", "us04st1.zoom.us"]
    lk.burst(SAM_PHONE, at(3, 16), 20, zoom, every=1)
    for seconds, name in ((5, "ome.tv"), (40, "www.ome.tv"), (80, "ome.tv"), (120, "cdn.ome.tv")):
        lk.add(SAM_PHONE, at(4, 23, 10) + timedelta(seconds=seconds), name, True)
    lk.burst(SAM_TABLET, at(5, 10), 90, ROBLOX)


def _alex(lk: Lookups) -> None:
    for n in range(5):
        lk.burst(ALEX_PHONE, at(n, 7, 5), 20, INSTAGRAM)
        lk.add(ALEX_LAPTOP, at(n, 16) + timedelta(seconds=3), "use-application-dns.net")
    homework = ["www.google.com", "en.wikipedia.org", "www.bbc.co.uk"]
    lk.burst(ALEX_LAPTOP, at(0, 17), 20, homework)
    lk.burst(ALEX_LAPTOP, at(1, 19), 120, YOUTUBE)  # an evening of YouTube
    for n in (0, 2, 3):
        lk.burst(ALEX_PHONE, at(n, 20), 20, YOUTUBE)
    lk.burst(ALEX_PHONE, at(2, 16, 5), 20, DISCORD)  # Discord for the first time
    for n in (3, 4):
        lk.burst(ALEX_PHONE, at(n, 18), 30, DISCORD)
    lk.burst(ALEX_PHONE, at(5, 11), 90, DISCORD)
    lk.burst(ALEX_LAPTOP, at(6, 15), 60, YOUTUBE)
    for k, name in enumerate(("dns.google", "dns.google", "cloudflare-dns.com")):
        lk.add(ALEX_LAPTOP, at(5, 14) + timedelta(seconds=10 * k), name, True)


def _others(lk: Lookups) -> None:
    for n in range(7):
        lk.burst(PARENT_PHONE, at(n, 21), 30, ["www.theguardian.com", "i.guim.co.uk"])
    for seconds, name in ((1, "connectivitycheck.gstatic.com"), (9, "www.google.com")):
        lk.add(FRIEND_PHONE, FRIEND_FROM + timedelta(seconds=seconds), name)


def lookups() -> list[tuple[float, Dev, str, int]]:
    lk = Lookups()
    _background(lk)
    _sam(lk)
    _alex(lk)
    _others(lk)
    return sorted(lk.items, key=lambda item: (item[0], item[1].key, item[2], item[3]))


def generate(household: Household, catalog: Catalog | None = None) -> list[LogEntry]:
    """The week's query-log rows, in time order, as the DNS server would log them."""
    policy = make_policy(household, catalog)
    rng = random.Random(SEED + 1)
    rows = []
    for ts, dev, name, qtype in lookups():
        moment = datetime.fromtimestamp(ts, TZ)
        d = decide(policy, dev.ip, name, qtype, moment)
        answered = d.action.value != "block"
        rows.append(
            LogEntry(
                ts, dev.ip, policy.neighbours.get(dev.ip), d.child, name,
                "A" if qtype == 1 else "AAAA", d.action.value, *d.columns[1:3], d.category,
                d.app, UPSTREAM if answered else None,
                round(rng.uniform(2, 30), 3) if answered else None, False,
            )
        )  # fmt: skip
    return rows


def chunks(
    rows: list[LogEntry], times: list[datetime]
) -> Iterator[tuple[datetime, list[LogEntry]]]:
    """The rows split at each run time: (run time, rows logged before it and after the last)."""
    i = 0
    for moment in times:
        cut = moment.timestamp()
        j = i
        while j < len(rows) and rows[j].ts < cut:
            j += 1
        yield moment, rows[i:j]
        i = j
