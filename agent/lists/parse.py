"""Blocklists as people publish them: hosts files, plain domain lists and adblock-style rules.

`parse_lines` turns a list's lines into normalised names and counts every line it skips, by
kind, so a parent (or a log) can see what a list really contained. Any syntax is understood
on any line (lists are often mixed); the detected format decides how `#` is read, because in
adblock rules `##` starts an element-hiding rule rather than a comment. Reading list files
and downloading them is `agent.lists.sources`.
"""

from __future__ import annotations

import codecs
import ipaddress
import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from encodings import idna
from pathlib import Path
from typing import BinaryIO

from agent.lists import native

FORMATS = ("hosts", "domains", "adblock")

# Header entries of hosts files (StevenBlack and others) that name the machine itself.
LOCALHOST_NAMES = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "localdomain",
        "local",
        "broadcasthost",
        "0.0.0.0",
        "ip6-localhost",
        "ip6-loopback",
        "ip6-localnet",
        "ip6-mcastprefix",
        "ip6-allnodes",
        "ip6-allrouters",
        "ip6-allhosts",
    }
)
_SINK_ADDRESSES = frozenset({"0.0.0.0", "127.0.0.1", "::", "::1", "::0"})
# Adblock modifiers that do not narrow a rule, so a DNS filter can honour it whole.
_SIMPLE_MODIFIERS = frozenset({"important", "all", "document", "doc", "popup", "third-party", "3p"})
# Labels of letters, digits, '-' and '_' (underscores appear in real service names).
_NAME = r"(?:[a-z0-9_-]{1,63}\.)*[a-z0-9_-]{1,63}"
_NAME_RE = re.compile(_NAME)
_FAST_LINE = {
    "hosts": re.compile(rf"[ \t]*(?:0\.0\.0\.0|127\.0\.0\.1)[ \t]+({_NAME})\.?\s*"),
    "domains": re.compile(rf"[ \t]*({_NAME})\.?\s*"),
    "adblock": re.compile(rf"\|\|({_NAME})\^\s*"),
}
_DOTS_RE = re.compile("[.\u3002\uff0e\uff61]")  # IDNA treats these as label separators
# IDNA 2003 (Python's codec) maps these away; browsers (UTS 46) keep them, so do we.
_DEVIATIONS = frozenset("\u00df\u03c2\u200c\u200d")
_DETECT_SAMPLE = 50  # meaningful lines looked at to guess a format
HEAD_LINES = 1000  # lines read first: enough to guess the format from past a long header
PIECE_BYTES = 1 << 22  # a list file is scanned in pieces of about this size
_ADBLOCK_CHARS = frozenset("^$|/#*")  # any of these makes a line an adblock rule


class ListError(Exception):
    """A source could not be read or downloaded; the message names it and the cause."""


class ListRejected(ListError):
    """A source was read but does not look like a blocklist (mostly junk, or empty)."""


@dataclass
class ParseStats:
    format: str = "domains"
    lines: int = 0
    entries: int = 0  # distinct blocked names kept
    exceptions: int = 0  # distinct exception (allow) names kept
    comments: int = 0
    blank: int = 0
    ips: int = 0
    localhost: int = 0
    junk: int = 0
    duplicates: int = 0
    unsupported: int = 0  # valid rules a name index cannot express (paths, modifiers, ...)
    looks_like_html: bool = False
    junk_examples: list[str] = field(default_factory=list)

    @property
    def junk_ratio(self) -> float:
        total = self.entries + self.exceptions + self.junk
        return self.junk / total if total else 0.0

    def summary(self) -> str:
        skipped = ", ".join(
            f"{n} {label}"
            for n, label in (
                (self.comments, "comments"),
                (self.blank, "blank"),
                (self.ips, "IP addresses"),
                (self.localhost, "localhost entries"),
                (self.duplicates, "duplicates"),
                (self.unsupported, "unsupported rules"),
                (self.junk, "invalid"),
            )
            if n
        )
        text = f"{self.format}: {self.entries} names, {self.exceptions} exceptions"
        return f"{text}; skipped {skipped}" if skipped else text


@dataclass
class ParsedList:
    names: dict[str, None]  # the blocked names, first seen first (a dict: cheap to merge)
    excepted: dict[str, None]  # the exception names, the same way
    stats: ParseStats

    @property
    def blocked(self) -> list[str]:
        return list(self.names)

    @property
    def exceptions(self) -> list[str]:
        return list(self.excepted)


def normalise(name: str) -> str | None:
    """The name as the index stores it (lower-case ASCII, xn-- for IDN), or None if invalid."""
    name = name.strip()
    if name.endswith("."):
        name = name[:-1]
    if not name.isascii():
        name = _to_ascii(name)
    name = name.lower()
    if len(name) > 253 or _NAME_RE.fullmatch(name) is None:
        return None
    # No top-level domain is numeric, so this rejects IPv4 literals and nothing real.
    if name.rpartition(".")[2].isdigit():
        return None
    return name


def _to_ascii(name: str) -> str:
    labels = []
    for label in _DOTS_RE.split(name):
        if label.isascii():
            labels.append(label)
            continue
        try:
            if _DEVIATIONS.intersection(label):
                label = unicodedata.normalize("NFC", label.lower())
                labels.append("xn--" + label.encode("punycode").decode("ascii"))
            else:
                labels.append(idna.ToASCII(label).decode("ascii"))
        except UnicodeError:
            return "\ufffd"  # fails validation, so the caller counts it as junk
    return ".".join(labels)


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def detect_format(sample: Iterable[str]) -> str:
    """Guess hosts, domains or adblock from a list's first lines."""
    votes = {"hosts": 0, "domains": 0, "adblock": 0}
    for line in itertools.islice(_meaningful(sample), _DETECT_SAMPLE):
        if line.startswith(("!", "[", "||", "@@", "|")) or line.endswith("^"):
            votes["adblock"] += 1
        elif len(parts := line.split()) > 1 and is_ip(parts[0]):
            votes["hosts"] += 1
        else:
            votes["domains"] += 1
    if votes["adblock"]:  # adblock syntax never appears in the other two formats
        return "adblock"
    return "hosts" if votes["hosts"] > votes["domains"] else "domains"


def _meaningful(lines: Iterable[str]) -> Iterator[str]:
    for raw in lines:
        line = raw.strip()
        if line and not line.startswith("#"):
            yield line


def parse_lines(lines: Iterable[str], fmt: str | None = None) -> ParsedList:
    """Parse a list's lines; `fmt` is hosts, domains, adblock, or None to detect it."""
    lines = iter(lines)
    head = list(itertools.islice(lines, HEAD_LINES))
    parser = _start(head, fmt)
    parser.read(itertools.chain(head, lines))
    return parser.result()


def parse_file(path: Path, fmt: str | None = None) -> ParsedList:
    """Parse a list file as `parse_lines` would parse its lines read as UTF-8 text (a broken
    byte spoils one line, not the whole list; a byte-order mark is dropped). With the C helper
    (`agent/lists/_scan.c`) the plain lines are taken in C and only the others in Python."""
    # utf-8-sig drops the byte-order mark some Windows editors put before the first line
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        if native.scan is None:
            return parse_lines(fh, fmt)
        head = list(itertools.islice(fh, HEAD_LINES))
    parser = _start(head, fmt)
    code, take = FORMATS.index(parser.stats.format), native.scan.take
    stats, kept = parser.stats, parser.blocked
    with open(path, "rb") as raw:
        for piece in _pieces(raw):
            pos, end = 0, len(piece)
            while pos < end:
                pos, plain, duplicates, other = take(piece, pos, code, kept)
                stats.lines += plain
                stats.duplicates += duplicates
                if other is not None:
                    parser.read((other,))
    return parser.result()


def _pieces(raw: BinaryIO) -> Iterator[bytes]:
    """A file in pieces of whole lines (each ends at a line end), without the byte-order mark."""
    rest = raw.read(len(codecs.BOM_UTF8))
    if rest == codecs.BOM_UTF8:
        rest = b""
    while block := raw.read(PIECE_BYTES):
        block = rest + block if rest else block
        # after the last "\n", or a "\r" with a byte after it (so never inside a "\r\n")
        cut = max(block.rfind(b"\n"), block.rfind(b"\r", 0, len(block) - 1)) + 1
        rest = block[cut:]
        if cut:
            yield block[:cut]
    if rest:
        yield rest


def _start(head: list[str], fmt: str | None) -> _LineParser:
    """A parser for a list whose first lines are `head`."""
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"unknown list format {fmt!r} (known: {', '.join(FORMATS)})")
    parser = _LineParser(fmt or detect_format(head))
    first = next(_meaningful(head), "")
    parser.stats.looks_like_html = first.startswith("<") and "html" in first.lower()
    return parser


class _LineParser:
    """One pass over a list; kept as a class so each kind of line has a small method."""

    def __init__(self, fmt: str) -> None:
        self.stats = ParseStats(format=fmt)
        self.adblock = fmt == "adblock"
        # dicts keep first-seen order, so the same file always builds the same index
        self.blocked: dict[str, None] = {}
        self.allowed: dict[str, None] = {}

    def read(self, lines: Iterable[str]) -> None:
        # Nearly every line of a big list is one plain entry; this pattern takes those in one
        # step and hands anything unusual (comments, IPs, localhost, upper case) to `feed`.
        fast = _FAST_LINE[self.stats.format].fullmatch
        blocked, stats = self.blocked, self.stats
        for line in lines:
            found = fast(line)
            if found is not None:
                name = found[1]
                if not name[-1].isdigit() and len(name) <= 253 and name not in LOCALHOST_NAMES:
                    stats.lines += 1
                    if name in blocked:
                        stats.duplicates += 1
                    else:
                        blocked[name] = None
                    continue
            self.feed(line)

    def result(self) -> ParsedList:
        self.stats.entries, self.stats.exceptions = len(self.blocked), len(self.allowed)
        return ParsedList(self.blocked, self.allowed, self.stats)

    def feed(self, raw: str) -> None:
        self.stats.lines += 1
        line = raw.strip()
        if not line:
            self.stats.blank += 1
        elif line[0] == "!" or (line[0] == "[" and line[-1] == "]"):
            self.stats.comments += 1
        elif line[0] == "#":
            cosmetic = self.adblock and line[1:2] in ("#", "@", "?", "$", "%")
            if cosmetic:
                self.stats.unsupported += 1
            else:
                self.stats.comments += 1
        elif line[0] in "|@" or (self.adblock and _ADBLOCK_CHARS.intersection(line)):
            self.adblock_rule(line)
        else:
            self.plain_line(line)

    def plain_line(self, line: str) -> None:
        if "#" in line:
            line = line.split("#", 1)[0]
        parts = line.split()
        if len(parts) == 1:
            self.wildcard(parts[0], exception=False)
        elif parts[0] in _SINK_ADDRESSES or is_ip(parts[0]):
            for token in parts[1:]:
                self.wildcard(token, exception=False)
        else:
            self.junk(line)

    def adblock_rule(self, line: str) -> None:
        exception = line.startswith("@@")
        body = line[2:] if exception else line
        body, _, modifiers = body.partition("$")
        if modifiers and not _SIMPLE_MODIFIERS.issuperset(modifiers.split(",")):
            self.stats.unsupported += 1
            return
        if body.startswith("||"):
            body = body[2:]
        elif body.startswith(("|", "/")) or "#" in body:
            self.stats.unsupported += 1  # exact URL, regular expression or element hiding
            return
        body = body.removesuffix("|").removesuffix("^")
        if "/" in body or "^" in body or (":" in body and not is_ip(body)):
            self.stats.unsupported += 1  # a path or port: the rule is about URLs, not names
            return
        self.wildcard(body, exception)

    def wildcard(self, token: str, exception: bool) -> None:
        # `*.example.com` is example.com under suffix matching; other wildcards are not
        token = token.removeprefix("*.")
        if "*" in token:
            self.stats.unsupported += 1
        else:
            self.add(token, exception)

    def add(self, token: str, exception: bool) -> None:
        if token.lower() in LOCALHOST_NAMES:
            self.stats.localhost += 1
            return
        name = normalise(token)
        if name is None:
            if is_ip(token):
                self.stats.ips += 1
            else:
                self.junk(token)
            return
        kept = self.allowed if exception else self.blocked
        if name in kept:
            self.stats.duplicates += 1
        else:
            kept[name] = None

    def junk(self, text: str) -> None:
        self.stats.junk += 1
        if len(self.stats.junk_examples) < 3:
            self.stats.junk_examples.append(text[:60])


def check(parsed: ParsedList, label: str, max_junk_ratio: float) -> ParsedList:
    """Refuse a list that is empty or mostly junk (say an HTML error page saved as a list)."""
    s = parsed.stats
    hint = " It looks like a web page, not a list." if s.looks_like_html else ""
    if s.entries + s.exceptions == 0:
        raise ListRejected(f"{label}: no names found ({s.lines} lines; {s.summary()}).{hint}")
    if s.junk_ratio > max_junk_ratio:
        raise ListRejected(
            f"{label}: {s.junk} of {s.entries + s.exceptions + s.junk} entries are not valid "
            f"names (more than {max_junk_ratio:.0%} allowed), e.g. {s.junk_examples!r}.{hint}"
        )
    return parsed
