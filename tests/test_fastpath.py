"""The compiled fast path (`agent/dns/_fastpath.c`) against its pure-Python references.

parse_query is held to `agent.dns.wire`'s Python parser packet for packet (a corpus plus seeded
random mutations); the name table to a reference hash and a reference suffix walk written here;
the UDP batches to real loopback sockets. Packets and table buffers come from untrusted places,
so malformed and corrupted inputs must give ValueError, never a crash or a wrong read.
"""

from __future__ import annotations

import dataclasses
import gc
import mmap
import os
import platform
import random
import resource
import select
import socket
import struct
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from errno import EBADF, ENOTSOCK

import pytest
from dnslib import EDNS0, DNSRecord

from agent.dns import wire

fastpath = pytest.importorskip(
    "agent.dns._fastpath",
    reason="the C fast path is not built (no compiler or Python headers); "
    "build it with `.venv/bin/pip install -e '.[test]'`",
)

# The Python parser, even once wire.parse_query itself answers through the C one.
REFERENCE: Callable[[bytes], wire.Query] = getattr(wire, "parse_query_py", wire.parse_query)
FIELDS = [f.name for f in dataclasses.fields(wire.Query)]


def _reference_lowers_ascii_only() -> bool:
    return REFERENCE(b"\0\0\1\0\0\1\0\0\0\0\0\0\1\xc4\0\0\1\0\1").name == "\xc4"


def _ascii_names(q: wire.Query) -> wire.Query:
    """The Python parser's answer with the name lowered as RFC 4343 says (A-Z only), for as
    long as wire.py still lowers with str.lower()."""
    labels, pos, question = [], 0, q.question
    while question[pos]:
        length = question[pos]
        labels.append(bytes(question[pos + 1 : pos + 1 + length]).lower().decode("latin-1"))
        pos += 1 + length
    return dataclasses.replace(q, name=".".join(labels))


FIX_NAMES = not _reference_lowers_ascii_only()


def expected(data: bytes) -> tuple | str:
    """The reference's fields, or its error message."""
    try:
        q = REFERENCE(data)
    except ValueError as exc:
        return f"error: {exc}"
    if FIX_NAMES:
        q = _ascii_names(q)
    return tuple(getattr(q, name) for name in FIELDS)


def actual(data: bytes) -> tuple | str:
    try:
        return fastpath.parse_query(data)
    except ValueError as exc:
        return f"error: {exc}"


def typed(result: tuple | str) -> object:
    """Values with their types, so True and 1 (or bytes and bytearray) do not pass as equal."""
    return result if isinstance(result, str) else [(type(v), v) for v in result]


def assert_same(data: bytes) -> None:
    assert typed(actual(data)) == typed(expected(data)), data


# ---------------------------------------------------------------- packets


def packet(
    labels: list[bytes],
    qtype: int = 1,
    qclass: int = 1,
    *,
    flags: int = 0x0100,
    counts: tuple[int, int, int, int] | None = None,
    additional: bytes = b"",
    tail: bytes = b"",
    qid: int = 0xBEEF,
) -> bytes:
    name = b"".join(bytes([len(label)]) + label for label in labels) + b"\0"
    qd, an, ns, ar = counts or (1, 0, 0, 1 if additional else 0)
    head = struct.pack(">HHHHHH", qid, flags, qd, an, ns, ar)
    return head + name + struct.pack(">HH", qtype, qclass) + additional + tail


def opt(size: int = 1232, ttl: int = 0, rdata: bytes = b"", owner: bytes = b"\0") -> bytes:
    return owner + struct.pack(">HHIH", 41, size, ttl, len(rdata)) + rdata


def dnslib_query(name: str, qtype: str, edns: bool = False, do: bool = False) -> bytes:
    record = DNSRecord.question(name, qtype)
    if edns:
        record.add_ar(EDNS0(flags="do" if do else "", udp_len=4096))
    return bytes(record.pack())


NAMES = [
    "example.com",
    "WWW.Example.COM",
    "xn--bcher-kva.example",
    "a" * 63 + ".com",
    ".".join(["b" * 63] * 3 + ["c" * 61]),  # 253 characters: the longest allowed
    "_dmarc.mail.example.org",
]
LABELS = [
    [],  # the root
    [b"a\x00b", b"com"],
    [b"\xff\xfe", b"NET"],
    [b"a.b", b"example"],  # a dot inside a label
    [b"\xc4\xd6\xdc", b"De"],  # latin-1 capitals: only A-Z fold
    [b"\x80", b"\x7f", b"Z@[`{"],  # next to the A-Z range
    [b"b" * 63] * 3 + [b"c" * 61],
    [b"b" * 63] * 3 + [b"c" * 62],  # 254 characters: one too many
    [b"x"] * 127,
    [b"x"] * 128,
    [b"b" * 64],  # a length byte with 0x40 set
]


def valid_corpus() -> list[bytes]:
    out = []
    for name in NAMES:
        for qtype in ("A", "AAAA", "HTTPS", "TXT"):
            out.append(dnslib_query(name, qtype))
            out.append(dnslib_query(name, qtype, edns=True))
            out.append(dnslib_query(name, qtype, edns=True, do=True))
    for labels in LABELS:
        out.append(packet(labels))
        out.append(packet(labels, 65, additional=opt(4096, 0x8000)))
    out += [
        packet([b"example", b"com"], additional=opt(100)),  # udp size below 512
        packet([b"example", b"com"], additional=opt(1000, 0x7FFF)),
        packet([b"example", b"com"], additional=opt(65535, 0xFFFFFFFF, b"\0\x0a\0\x08" + b"c" * 8)),
        packet([b"example", b"com"], additional=opt(), tail=b"trailing junk"),
        packet([b"example", b"com"], tail=b"junk without an OPT record"),
        packet([b"Example", b"COM"], 0xFFFF, 0xFFFF, flags=0x7EFF, qid=0),
    ]
    return out


def malformed_corpus() -> list[bytes]:
    name = [b"example", b"com"]
    return [
        b"",
        b"\0" * 11,
        packet(name, flags=0x8100),  # a response
        packet(name, counts=(0, 0, 0, 0)),
        packet(name, counts=(2, 0, 0, 0)),
        packet(name, counts=(0xFFFF, 0, 0, 0)),
        packet(name, counts=(1, 1, 0, 0)),
        packet(name, counts=(1, 0, 1, 0)),
        packet(name, counts=(1, 0, 0, 2), additional=opt() + opt()),
        packet(name, counts=(1, 0, 0, 1)),  # the OPT record is missing
        packet(name, additional=b"\0" + struct.pack(">HHIH", 1, 1, 0, 4) + b"\1\2\3\4"),
        packet(name, additional=opt(owner=b"\3com\0")),
        packet(name, additional=opt(rdata=b"1234")[:-1]),  # rdlen past the end
        packet(name, additional=opt()[:10]),
        packet([b"b" * 64, b"com"]),
        packet([b"a" * 0x80]),
        b"\xbe\xef\1\0\0\1\0\0\0\0\0\0\xc0\x0c\0\1\0\1",  # a compression pointer
        b"\xbe\xef\1\0\0\1\0\0\0\0\0\0\7example\xc0\x0c\0\1\0\1",
        b"\xbe\xef\1\0\0\1\0\0\0\0\0\0\x40\0\0\1\0\1",  # an extended label type
    ]


@pytest.mark.parametrize("data", valid_corpus(), ids=repr)
def test_parse_query_matches_wire_on_the_corpus(data: bytes) -> None:
    assert_same(data)


def test_the_corpus_is_mostly_valid() -> None:
    results = [expected(data) for data in valid_corpus()]
    assert sum(isinstance(r, str) for r in results) == 6  # 254 characters, 0x40, 128 labels


@pytest.mark.parametrize("data", malformed_corpus(), ids=repr)
def test_parse_query_rejects_what_wire_rejects(data: bytes) -> None:
    assert isinstance(expected(data), str)
    assert_same(data)


def test_parse_query_matches_wire_on_every_truncation() -> None:
    packets = valid_corpus()[::5] + [packet([b"x"], additional=opt(rdata=b"\0\x0a\0\2hi"))]
    for data in packets:
        for cut in range(len(data) + 1):
            assert_same(data[:cut])


def test_parse_query_lowers_ascii_only_and_keys_the_flags() -> None:
    data = packet([b"\xc4Bc", b"COM"], 28, additional=opt(ttl=0x8000))
    qid, flags, name, qtype, qclass, question, key, edns, size, do, raw_opt = fastpath.parse_query(
        data
    )
    assert (name, qtype, edns, size, do) == ("\xc4bc.com", 28, True, 1232, True)
    assert question == data[12:-11] and raw_opt == data[-11:]
    assert key == b"\3\xc4bc\3com\0\0\x1c\0\1" + b"\1\1"


def test_parse_query_takes_other_buffers_and_refuses_str() -> None:
    data = dnslib_query("example.com", "A")
    assert fastpath.parse_query(bytearray(data)) == fastpath.parse_query(data)
    assert fastpath.parse_query(memoryview(data)) == fastpath.parse_query(data)
    with pytest.raises(TypeError):
        fastpath.parse_query("example.com")


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 4))):
        op = rng.randrange(7)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:
            buf[pos % len(buf)] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:
            buf[pos % len(buf)] = rng.choice((0, 1, 0x3F, 0x40, 0x80, 0xC0, 0xFF, 41, 65, 97))
        elif op == 2:
            buf[pos:pos] = bytes([rng.randrange(256)])
        elif op == 3:
            del buf[pos : pos + rng.randint(1, 3)]
        elif op == 4:
            del buf[pos:]
        elif op == 5:
            buf[pos:pos] = buf[rng.randrange(len(buf) + 1) :][: rng.randint(1, 16)]
        elif op == 6 and len(buf) >= 12:
            field = rng.randrange(2, 12, 2)  # a header count or the flags
            buf[field : field + 2] = rng.choice((0, 1, 2, 0xFFFF, rng.randrange(65536))).to_bytes(
                2, "big"
            )
    return bytes(buf)


def test_parse_query_matches_wire_on_random_mutations() -> None:
    rng = random.Random(4343)
    seeds = valid_corpus() + malformed_corpus()
    outcomes = {"parsed": 0, "rejected": 0}
    for _ in range(100_000):
        data = mutate(rng, rng.choice(seeds))
        want = expected(data)
        assert typed(actual(data)) == typed(want), data
        outcomes["rejected" if isinstance(want, str) else "parsed"] += 1
    assert min(outcomes.values()) > 10_000  # both paths were exercised


# ---------------------------------------------------------------- the name table

MASK = (1 << 64) - 1
HEADER = struct.Struct("=8sIIQ")


def reference_hash(name: str) -> int:
    h = 0xCBF29CE484222325
    for byte in reversed(name.encode("ascii")):
        h = ((h ^ byte) * 0x100000001B3) & MASK
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & MASK
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & MASK
    return h ^ (h >> 31)


def reference_lookup(listed: dict[str, int], name: str) -> tuple[tuple[int, int], ...]:
    """Every label suffix of name that is listed, shortest first."""
    suffixes = [name[i + 1 :] for i in range(len(name) - 1, -1, -1) if name[i] == "."] + [name]
    return tuple((len(s), listed[s]) for s in suffixes if s and s in listed)


ID_FORMATS = {1: "B", 2: "H", 4: "I"}


def parse_table(raw: bytes) -> tuple[int, list[int], list[int], list[int]]:
    """(bits, buckets, full 64-bit hashes, ids): each hash is its bucket's top bits over the
    low 8 * hw bits stored (hw = 8 - bits // 8 bytes, native order)."""
    magic, bits, idw, count = HEADER.unpack_from(raw)
    assert magic == b"HRNT\3\0\0\0" and idw in ID_FORMATS
    nb = (1 << bits) + 1
    buckets = list(struct.unpack_from(f"={nb}I", raw, 24))
    hashes_at = (24 + 4 * nb + 7) // 8 * 8
    assert raw[24 + 4 * nb : hashes_at] == bytes(hashes_at - 24 - 4 * nb)
    hw = 8 - bits // 8
    assert len(raw) == hashes_at + (hw + idw) * count
    low = [
        int.from_bytes(raw[hashes_at + hw * i : hashes_at + hw * (i + 1)], sys.byteorder)
        for i in range(count)
    ]
    below, shared = 64 - bits, 8 * hw - (64 - bits)  # bits only stored; stored and bucket's
    hashes = []
    for b in range(nb - 1):
        for i in range(buckets[b], buckets[b + 1]):
            assert low[i] >> below == b & ((1 << shared) - 1)  # the stored top is the bucket's
            hashes.append(b << below | low[i] & ((1 << below) - 1))
    ids = list(struct.unpack_from(f"={count}{ID_FORMATS[idw]}", raw, hashes_at + hw * count))
    return bits, buckets, hashes, ids


def id_width(raw: bytes) -> int:
    return HEADER.unpack_from(raw)[2]


def random_names(rng: random.Random, n: int) -> list[str]:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-"
    names: set[str] = set()
    while len(names) < n:
        labels = ["".join(rng.choices(alphabet, k=rng.randint(1, 12))) for _ in range(2)]
        names.add(".".join(labels + [rng.choice(("com", "net", "org", "co.uk", "io"))]))
    return sorted(names)


@pytest.fixture(scope="module")
def listed() -> dict[str, int]:
    rng = random.Random(1034)
    names = random_names(rng, 3000)
    out = {name: rng.randrange(1 << 32) for name in names}
    # parents of listed names, and the extremes of the id range
    out.update({"com": 0, "co.uk": 1, names[0].split(".", 1)[1]: (1 << 32) - 1})
    return out


@pytest.fixture(scope="module")
def raw_table(listed: dict[str, int]) -> bytes:
    return fastpath.build_table(listed.items())


def test_table_file_holds_the_reference_hashes_sorted_in_their_buckets(
    listed: dict[str, int], raw_table: bytes
) -> None:
    bits, buckets, hashes, ids = parse_table(raw_table)
    assert hashes == sorted(reference_hash(name) for name in listed)
    assert dict(zip(hashes, ids, strict=True)) == {reference_hash(n): i for n, i in listed.items()}
    assert buckets[0] == 0 and buckets[-1] == len(listed)
    for b in range(1 << bits):
        assert all(h >> (64 - bits) == b for h in hashes[buckets[b] : buckets[b + 1]])
    assert 2 <= len(listed) / (1 << bits) <= 4


@pytest.mark.parametrize(("count", "hash_bytes"), [(20, 8), (3_000, 7), (140_000, 6)])
def test_table_stores_only_the_hash_bits_its_bucket_does_not_hold(count, hash_bytes) -> None:
    """A million names take 6 bytes a hash, not 8, and every one of the 64 bits still counts:
    the full hashes come back from bucket and stored bits, and every name is found."""
    rng = random.Random(count)
    listed = {name: i % 7 for i, name in enumerate(random_names(rng, count))}
    raw = fastpath.build_table(listed.items())
    bits, buckets, hashes, ids = parse_table(raw)
    assert 8 - bits // 8 == hash_bytes
    assert len(raw) == (24 + 4 * len(buckets) + 7) // 8 * 8 + (hash_bytes + 1) * count
    assert dict(zip(hashes, ids, strict=True)) == {reference_hash(n): i for n, i in listed.items()}
    table = fastpath.Table(raw)
    assert all(table.lookup(name)[-1] == (len(name), i) for name, i in listed.items())
    assert not any(table.contains(name) for name in random_names(rng, 2_000) if name not in listed)


def test_table_finds_every_listed_suffix_and_nothing_else(
    listed: dict[str, int], raw_table: bytes
) -> None:
    table = fastpath.Table(raw_table)
    assert len(table) == len(listed)
    rng = random.Random(7)
    for name, set_id in listed.items():
        got = table.lookup(name)
        assert got == reference_lookup(listed, name) and got[-1] == (len(name), set_id)
        assert table.contains(name)
        for query in (
            f"www.{name}",
            f"a.b-c.{name}",
            f"bad{name}",  # never a partial label
            f"{name}x",
            name[1:],
            f"\xe9.{name}",  # a non-ASCII label hides nothing to its right
            f"{name[:2]}\xe9{name[2:]}",
            f"\u011f.x.{name}",
            chr(0x100 + ord(name[0])) + name[1:],  # must not be read as its low byte
            f"{name}.",
            f".{name}",
            f"a..{name}",
        ):
            assert table.lookup(query) == reference_lookup(listed, query), query
    for query in random_names(rng, 2000):
        assert table.lookup(query) == reference_lookup(listed, query)
        assert table.contains(query) == (query in listed)
    assert table.lookup("") == () and table.lookup(".") == () and not table.contains("")


def test_table_lookup_misses_return_the_shared_empty_tuple(raw_table: bytes) -> None:
    table = fastpath.Table(raw_table)
    assert table.lookup("not-listed.invalid") is tuple()
    with pytest.raises(TypeError):
        table.lookup(b"example.com")
    with pytest.raises(TypeError):
        table.contains(None)


def test_table_lookup_of_names_longer_than_dns_allows() -> None:
    deep = ".".join(["a"] * 300)  # 300 listed suffixes: more hits than the stack holds
    listed = {deep[i:]: i for i in range(0, len(deep), 2)}
    table = fastpath.Table(fastpath.build_table(listed.items()))
    assert table.lookup(deep) == reference_lookup(listed, deep)
    for wide in ("\u011f." + deep, deep[:200] + "\u011f" + deep[201:], "\U0001f600" * 300):
        assert table.lookup(wide) == reference_lookup(listed, wide)
    assert len(table.lookup("z." + deep)) == 300
    assert table.lookup("x" * 5000) == ()


def test_build_table_takes_any_iterable_and_an_empty_one() -> None:
    pairs = [("example.com", 1), ("ads.example.com", 2)]
    from_generator = fastpath.build_table(pair for pair in pairs)
    assert from_generator == fastpath.build_table(pairs)
    assert fastpath.build_table([["example.com", 1], ("ads.example.com", 2)]) == from_generator
    empty = fastpath.Table(fastpath.build_table([]))
    assert len(empty) == 0 and empty.lookup("example.com") == ()


@pytest.mark.parametrize(
    ("pairs", "error"),
    [
        ([("example.com", 1), ("example.com", 1)], ValueError),
        ([("example.com", 1), ("a.com", 3), ("example.com", 2)], ValueError),
        ([("", 1)], ValueError),
        ([("example.com.", 1)], ValueError),
        ([("b\xfccher.de", 1)], ValueError),
        ([("\u043f\u0440\u0438\u043c\u0435\u0440.ru", 1)], ValueError),
        ([("example.com", -1)], ValueError),
        ([("example.com", 1 << 32)], ValueError),
        ([("example.com", 1 << 70)], ValueError),
        ([("example.com", 1, 2)], ValueError),
        ([("example.com",)], ValueError),
        ([(b"example.com", 1)], TypeError),
        ([("example.com", "1")], TypeError),
        ([("example.com", 1.0)], TypeError),
        (["example.com"], ValueError),  # a str is a sequence, of the wrong length
        ([1], TypeError),
        (5, TypeError),
    ],
)
def test_build_table_rejects(pairs: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        fastpath.build_table(pairs)


def test_build_table_passes_on_an_error_from_the_iterable() -> None:
    def pairs() -> Iterator[tuple[str, int]]:
        yield "example.com", 1
        raise RuntimeError("list download failed")

    with pytest.raises(RuntimeError, match="download"):
        fastpath.build_table(pairs())


def corrupt(raw: bytes, offset: int, value: bytes) -> bytes:
    return raw[:offset] + value + raw[offset + len(value) :]


def test_table_refuses_damaged_buffers(raw_table: bytes) -> None:
    bits, buckets, _, _ = parse_table(raw_table)
    count = buckets[-1] + 1  # one more than there are
    cases = {
        "empty": b"",
        "header only": raw_table[:24],
        "bad magic": corrupt(raw_table, 0, b"HRNX"),
        "version 1": corrupt(raw_table, 4, b"\1"),
        "version 2 (8-byte hashes)": corrupt(raw_table, 4, b"\2"),
        "version 4": corrupt(raw_table, 4, b"\4"),
        "bits 3": corrupt(raw_table, 8, struct.pack("=I", 3)),
        "bits 25": corrupt(raw_table, 8, struct.pack("=I", 25)),
        "bits 64": corrupt(raw_table, 8, struct.pack("=I", 64)),
        "id width 0": corrupt(raw_table, 12, struct.pack("=I", 0)),
        "id width 3": corrupt(raw_table, 12, struct.pack("=I", 3)),
        "id width 2, sized for 4": corrupt(raw_table, 12, struct.pack("=I", 2)),
        "count": corrupt(raw_table, 16, struct.pack("=Q", count)),
        "huge count": corrupt(raw_table, 16, struct.pack("=Q", (1 << 64) - 1)),
        "one byte short": raw_table[:-1],
        "one byte more": raw_table + b"\0",
        "first bucket": corrupt(raw_table, 24, struct.pack("=I", 1)),
        "last bucket": corrupt(raw_table, 24 + 4 * (1 << bits), struct.pack("=I", count)),
        "decreasing": corrupt(raw_table, 24 + 4 * 5, struct.pack("=I", buckets[6] + 1)),
    }
    for what, data in cases.items():
        with pytest.raises(ValueError, match="not a valid name table"):
            fastpath.Table(data)
            pytest.fail(what)
    with pytest.raises(TypeError):
        fastpath.Table("HRNT")
    with pytest.raises(TypeError):
        fastpath.Table()


def test_table_survives_random_corruption(listed: dict[str, int]) -> None:
    small = dict(list(listed.items())[:40])
    raw = fastpath.build_table(small.items())
    rng = random.Random(99)
    queries = [*small, "x.com", "a.b.c.d.e.f"]
    accepted = 0
    for _ in range(3000):
        buf = bytearray(raw)
        for _ in range(rng.randint(1, 6)):
            if rng.random() < 0.5:
                buf[rng.randrange(len(buf))] = rng.randrange(256)
            else:  # a plausible but wrong value in the header or the buckets
                at = rng.randrange(0, 24 + 4 * 17, 4)
                buf[at : at + 4] = struct.pack("=I", rng.choice((0, 1, 4, 17, 24, 40, 41, 1 << 31)))
        if rng.random() < 0.1:
            del buf[rng.randrange(len(buf)) :]
        try:
            table = fastpath.Table(bytes(buf))
        except ValueError:
            continue
        accepted += 1
        for query in queries:
            hits = table.lookup(query)
            assert all(isinstance(length, int) and isinstance(i, int) for length, i in hits)
    assert accepted > 100  # damage past the buckets passes the checks: lookups ran on it


def test_table_holds_its_buffer_and_stays_safe_if_it_changes(
    listed: dict[str, int], raw_table: bytes
) -> None:
    buf = bytearray(raw_table)
    table = fastpath.Table(buf)
    with pytest.raises(BufferError):
        buf.append(0)  # cannot move while the table reads it
    bits, _, _, _ = parse_table(raw_table)
    buckets = slice(24, 24 + 4 * ((1 << bits) + 1))
    buf[buckets] = b"\xff" * (buckets.stop - 24)  # every bucket starts past the end
    assert table.lookup("www.example.com") == ()
    # or ends past it, with hashes that never stop a scan early
    rest = len(buf) - buckets.start
    buf[buckets.start :] = (b"\0\0\0\0\xff\xff\xff\xff" * (1 << (bits - 1)) + bytes(rest))[:rest]
    for name in list(listed)[:100]:
        assert table.lookup(name) == ()
    del table
    buf.append(0)
    before = sys.getrefcount(raw_table)
    tables = [fastpath.Table(raw_table) for _ in range(100)]
    assert sys.getrefcount(raw_table) > before
    del tables
    assert sys.getrefcount(raw_table) == before


def test_table_over_an_mmap_of_a_file(listed: dict[str, int], raw_table: bytes, tmp_path) -> None:
    path = tmp_path / "names.hash"
    path.write_bytes(raw_table)
    with open(path, "rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    table = fastpath.Table(mapped)
    assert len(table) == len(listed)
    for name in list(listed)[:200]:
        assert table.lookup("www." + name) == reference_lookup(listed, "www." + name)
    with pytest.raises(BufferError):
        mapped.close()  # the table still reads it
    del table
    mapped.close()


def test_table_of_a_million_names() -> None:
    n = 1_000_000
    names = [f"h{i:x}.d{i % 9973}.example{i % 7}.com" for i in range(n)]
    table = fastpath.Table(fastpath.build_table((name, i) for i, name in enumerate(names)))
    assert len(table) == n
    rng = random.Random(3)
    for i in rng.sample(range(n), 2000):
        assert table.lookup(names[i]) == ((len(names[i]), i),)
        assert table.lookup("cdn." + names[i]) == ((len(names[i]), i),)
        assert table.lookup(names[i][1:]) == ()
        assert not table.contains(f"x{names[i]}")


# ---------------------------------------------------------------- UDP batches


def _families() -> list[tuple[int, str]]:
    out = [(socket.AF_INET, "127.0.0.1")]
    if socket.has_ipv6:
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
                s.bind(("::1", 0))
            out.append((socket.AF_INET6, "::1"))
        except OSError:
            pass
    return out


@pytest.fixture(params=_families(), ids=lambda p: p[1])
def udp(request) -> Iterator[tuple[socket.socket, socket.socket, str]]:
    family, host = request.param
    server = socket.socket(family, socket.SOCK_DGRAM)
    client = socket.socket(family, socket.SOCK_DGRAM)
    server.bind((host, 0))
    client.bind((host, 0))
    server.setblocking(False)
    client.settimeout(5)
    yield server, client, host
    server.close()
    client.close()


def receive(server: socket.socket, count: int, most: int = 32) -> list[tuple[bytes, str, bytes]]:
    """Poll until `count` datagrams came in (or 5 s passed), `most` at a time."""
    got: list[tuple[bytes, str, bytes]] = []
    deadline = time.monotonic() + 5
    while len(got) < count and time.monotonic() < deadline:
        select.select([server], [], [], max(0, deadline - time.monotonic()))
        batch = fastpath.recv_batch(server.fileno(), most)
        assert len(batch) <= min(most, 64)
        got += batch
    return got


def port_of(sockaddr: bytes) -> int:
    return struct.unpack_from(">H", sockaddr, 2)[0]


def test_recv_batch_then_send_batch_round_trip(udp) -> None:
    server, client, host = udp
    sent = [b"query %d " % i * (i % 7 + 1) for i in range(50)]
    sent += [b"", b"L" * 1000, b"M" * 4095, b"N" * 4096]
    for payload in sent:
        client.sendto(payload, server.getsockname())
    got = receive(server, len(sent), most=8)
    assert [payload for payload, _, _ in got] == sent
    expected_len = 16 if server.family == socket.AF_INET else 28
    for _, ip, sockaddr in got:
        assert ip == host and len(sockaddr) == expected_len
        assert port_of(sockaddr) == client.getsockname()[1]
    replies = [(b"re:" + payload, sockaddr) for payload, _, sockaddr in got]
    assert fastpath.send_batch(server.fileno(), replies) == len(replies)
    for payload, _ in replies:
        assert client.recvfrom(8192) == (payload, server.getsockname())


def test_recv_batch_when_nothing_waits_and_caps(udp) -> None:
    server, client, _ = udp
    assert fastpath.recv_batch(server.fileno()) == []
    client.sendto(b"x" * 5000, server.getsockname())
    [(payload, _, _)] = receive(server, 1)
    assert payload == b"x" * 4096  # cut to the buffer, as documented
    for i in range(100):
        client.sendto(b"%d" % i, server.getsockname())
    first = receive(server, 1, most=1000)
    assert len(first) <= 64
    assert len(first) + len(receive(server, 100 - len(first))) == 100
    with pytest.raises(ValueError):
        fastpath.recv_batch(server.fileno(), 0)


def test_send_batch_sends_more_than_one_batch_and_skips_bad_destinations() -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client,
    ):
        server.bind(("127.0.0.1", 0))
        client.bind(("127.0.0.1", 0))
        client.settimeout(5)
        client.sendto(b"hello", server.getsockname())
        [(_, _, to_client)] = receive(server, 1)
        broadcast = to_client[:2] + struct.pack(">H", 53) + bytes([255] * 4) + bytes(8)
        ipv6 = socket.AF_INET6.to_bytes(2, sys.byteorder) + bytes(26)  # wrong family here
        items = [(b"%d" % i, to_client) for i in range(100)]
        items[10:10] = [(b"bad", broadcast), (b"bad", ipv6)]
        assert fastpath.send_batch(server.fileno(), items) == 100
        assert [client.recv(100) for _ in range(100)] == [b"%d" % i for i in range(100)]
        assert fastpath.send_batch(server.fileno(), []) == 0


def test_send_batch_checks_every_item_first(udp) -> None:
    server, client, _ = udp
    client.sendto(b"hello", server.getsockname())
    [(_, _, sockaddr)] = receive(server, 1)
    good = (b"ok", sockaddr)
    other = socket.AF_INET6 if len(sockaddr) == 16 else socket.AF_INET
    wrong_family = other.to_bytes(2, sys.byteorder) + sockaddr[2:]
    for bad in [(b"ok", b"short"), (b"ok", sockaddr + b"\0"), (b"ok", wrong_family)]:
        with pytest.raises(ValueError):
            fastpath.send_batch(server.fileno(), [good, bad])
    for bad in [[b"ok", sockaddr], (b"ok",), ("ok", sockaddr), (b"ok", bytearray(sockaddr))]:
        with pytest.raises(TypeError):
            fastpath.send_batch(server.fileno(), [good, bad])
    client.settimeout(0)
    with pytest.raises(BlockingIOError):
        client.recv(100)  # nothing went out


def test_batches_on_a_closed_or_wrong_fd() -> None:
    to = socket.inet_pton(socket.AF_INET, "127.0.0.1")
    sockaddr = socket.AF_INET.to_bytes(2, sys.byteorder) + b"\0\x35" + to + bytes(8)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        # a high number, so no other thread's new file takes it between close and use
        closed = os.dup2(s.fileno(), resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 1)
    os.close(closed)
    r, w = os.pipe()
    try:
        for fd, errno_ in ((closed, EBADF), (r, ENOTSOCK), (-1, EBADF)):
            with pytest.raises(OSError) as recv_error:
                fastpath.recv_batch(fd)
            with pytest.raises(OSError) as send_error:
                fastpath.send_batch(w if fd == r else fd, [(b"x", sockaddr)])
            assert recv_error.value.errno == send_error.value.errno == errno_
    finally:
        os.close(r)
        os.close(w)


# ---------------------------------------------------------------- replay_batch


def question(ident: int, body: bytes) -> bytes:
    """A datagram with a DNS header's room: the ID, then what the memo keys on."""
    return struct.pack(">H", ident) + body.ljust(10, b"-")


def prepared(body: bytes, head: tuple, **fields: object) -> object:
    from agent.dns.server import _Prepared

    m = _Prepared(body, None, None, b"", head)  # type: ignore[arg-type]
    for name, value in fields.items():
        setattr(m, name, value)
    return m


class Replayed:
    """Everything one or more replay_batch calls did, read until `count` datagrams came in."""

    def __init__(self, server: socket.socket, count: int, memo: dict, **kw: object) -> None:
        from agent.dns.server import _Prepared

        self.rows: list[tuple] = []
        self.blocked: dict[str, int] = {}
        self.rest: list[tuple] = []
        self.cached = self.unsent = self.got = 0
        submit = kw.pop("submit", self.rows.append)
        allow, exempt = kw.pop("allow", None), kw.pop("exempt", frozenset())
        classes = kw.pop("classes", None)
        deadline = time.monotonic() + 5
        while self.got < count and time.monotonic() < deadline:
            select.select([server], [], [], max(0, deadline - time.monotonic()))
            got, rest, cached, unsent = fastpath.replay_batch(
                server.fileno(), 32, memo, _Prepared, 1000.5, 100.0, submit, self.blocked,
                allow, exempt, 7.0, classes,
            )  # fmt: skip
            self.got += got
            self.rest += rest
            self.cached += cached
            self.unsent += unsent


def test_replay_answers_what_the_memo_knows_and_hands_back_the_rest(udp) -> None:
    server, client, host = udp
    bodies = [b"blocked", b"fresh", b"stale", b"too-big", b"late-block", b"unknown", b"other's"]
    tails = {b"blocked": b"\x81\x83NXDOMAIN", b"fresh": b"\x81\x80CACHED", b"late-block": b"BLOCK"}
    memo: dict = {
        (host, question(0, b"blocked")[2:]): (tails[b"blocked"], ("head", "blocked"), "list"),
        (host, question(0, b"fresh")[2:]): prepared(
            b"fresh", ("head", "fresh"), tail=tails[b"fresh"], expires=100.5, fits=True
        ),
        (host, question(0, b"stale")[2:]): prepared(
            b"stale", ("head", "stale"), tail=b"OLD", expires=100.0, fits=True
        ),
        (host, question(0, b"too-big")[2:]): prepared(
            b"too-big", ("head", "big"), tail=b"BIG", expires=200.0, fits=False
        ),
        (host, question(0, b"late-block")[2:]): prepared(
            b"late-block", ("head", "late"), block_tail=tails[b"late-block"], kind="schedule"
        ),
        ("198.51.100.7", question(0, b"other's")[2:]): (b"NOT YOURS", ("head",), "list"),
    }
    sent = [question(100 + i, body) for i, body in enumerate(bodies)] + [b"\x01\x02short"]
    for payload in sent:
        client.sendto(payload, server.getsockname())
    done = Replayed(server, len(sent), memo)
    assert done.got == len(sent) and done.unsent == 0
    replies = {client.recv(4096) for _ in range(3)}
    assert replies == {
        struct.pack(">H", 100) + tails[b"blocked"],
        struct.pack(">H", 101) + tails[b"fresh"],
        struct.pack(">H", 104) + tails[b"late-block"],
    }
    client.settimeout(0.2)
    with pytest.raises(TimeoutError):
        client.recv(4096)  # nothing else was answered
    assert [payload for payload, *_ in done.rest] == [sent[i] for i in (2, 3, 5, 6, 7)]
    for _, ip, sockaddr, allowed in done.rest:
        assert ip == host and allowed is True
        assert port_of(sockaddr) == client.getsockname()[1]
    assert done.rows == [
        (1000.5, ("head", "blocked"), None, None, False),
        (1000.5, ("head", "fresh"), None, None, True),
        (1000.5, ("head", "late"), None, None, False),
    ]
    assert done.blocked == {"list": 1, "schedule": 1} and done.cached == 1


def aging(stored: float, expires: float, cap: int, *records: tuple[int, int]) -> bytes:
    """agent.dns.server._aging's layout: the cache entry's times, the cap, (offset, TTL)s."""
    return struct.pack("=ddi", stored, expires, cap) + b"".join(
        struct.pack("=HI", at, ttl) for at, ttl in records
    )


def test_replay_ages_a_cached_tail_by_the_whole_seconds_since_it_was_stored(udp) -> None:
    """A prepared answer past its second is made again from its aging, as a load from the
    cache would (mono is 100.0 here): each TTL less the age, not below 0, within the cap; the
    entry keeps the new tail until the next second of its age. Expired in the cache, or an
    aging that does not fit its tail: Python loads it."""
    server, client, host = udp
    tail = b"T" * 10 + struct.pack(">I", 300) + b"--" + struct.pack(">I", 4)  # TTLs at 10, 16
    made = {
        b"aged": aging(89.5, 400.0, -1, (10, 300), (16, 4)),  # 10.5 s old: 10 s of age
        b"capped": aging(89.5, 400.0, 120, (10, 300), (16, 4)),
        b"soon": aging(99.25, 100.5, -1, (10, 300)),  # 0.75 s old: no age, expires first
        b"expired": aging(89.5, 100.0, -1, (10, 300)),
        b"outside": aging(89.5, 400.0, -1, (17, 300)),
        b"short": aging(89.5, 400.0, -1)[:19],
    }
    memo = {
        (host, question(0, body)[2:]): prepared(
            body, ("head", body), tail=tail, expires=100.0, fits=True, aging=value
        )
        for body, value in made.items()
    }
    for i, body in enumerate(made):
        client.sendto(question(i, body), server.getsockname())
    done = Replayed(server, len(made), memo)
    replies = {client.recv(4096) for _ in range(3)}

    def ttls(first: int, second: int) -> bytes:
        return b"T" * 10 + struct.pack(">I", first) + b"--" + struct.pack(">I", second)

    assert replies == {
        struct.pack(">H", 0) + ttls(290, 0),
        struct.pack(">H", 1) + ttls(120, 0),
        struct.pack(">H", 2) + ttls(300, 4),
    }
    assert [p[2:] for p, *_ in done.rest] == [question(0, b)[2:] for b in made][3:]
    entry = memo[(host, question(0, b"aged")[2:])]
    assert entry.tail == ttls(290, 0) and entry.expires == 100.5  # stored + 10 s + 1
    assert memo[(host, question(0, b"soon")[2:])].expires == 100.25
    assert memo[(host, question(0, b"expired")[2:])].tail == tail  # untouched
    assert done.cached == 3 and len(done.rows) == 3


def test_replay_asks_the_rate_limit_first_except_for_the_exempt(udp) -> None:
    server, client, host = udp
    memo = {(host, question(0, b"blocked")[2:]): (b"TAIL", ("head",), "list")}
    asked: list[tuple] = []

    def refuse(who: str, now: float) -> bool:
        asked.append((who, now))
        return False

    for i in range(3):
        client.sendto(question(i, b"blocked"), server.getsockname())
    done = Replayed(server, 3, memo, allow=refuse)
    assert asked == [(host, 7.0)] * 3
    assert [allowed for *_, allowed in done.rest] == [False] * 3
    assert done.rows == [] and done.blocked == {}
    client.sendto(question(9, b"blocked"), server.getsockname())
    done = Replayed(server, 1, memo, allow=refuse, exempt=frozenset({host}))
    assert len(asked) == 3 and done.rest == []  # the box itself: never asked, answered
    assert client.recv(4096) == struct.pack(">H", 9) + b"TAIL"


def test_replay_leaves_to_python_what_fails_while_answering(udp) -> None:
    """A log that raises, a memo entry of the wrong shape: Python's own answer meets the
    problem again and says so; nothing is sent or counted here."""
    server, client, host = udp
    memo = {
        (host, question(0, b"blocked")[2:]): (b"TAIL", ("head",), "list"),
        (host, question(0, b"odd")[2:]): (b"TAIL", "no kind"),
        (host, question(0, b"odder")[2:]): prepared(b"odder", ("head",), expires="soon"),
    }

    def broken(row: tuple) -> bool:
        raise RuntimeError("the log is away")

    for body in (b"blocked", b"odd", b"odder"):
        client.sendto(question(1, body), server.getsockname())
    done = Replayed(server, 3, memo, submit=broken)
    assert len(done.rest) == 3 and all(allowed for *_, allowed in done.rest)
    assert done.blocked == {} and done.cached == 0
    client.settimeout(0.2)
    with pytest.raises(TimeoutError):
        client.recv(4096)


def test_replay_with_random_datagrams_and_odd_memo_entries(udp) -> None:
    """Junk of every length, and memo values of every shape: each datagram is answered as its
    memo entry says, or handed back whole; nothing else goes out and nothing is lost."""
    server, client, host = udp
    rng = random.Random(19)
    bodies = [rng.randbytes(rng.randrange(0, 600)) for _ in range(300)]
    odd = [None, 7, (), (b"T",), (b"T", ("h",), "k", "extra"), ("str tail", ("h",), "k"),
           prepared(b"x", ("h",), tail="not bytes", expires=1e9, fits=True),
           prepared(b"x", ("h",), tail=b"T", expires=float("nan"), fits=True)]  # fmt: skip
    memo: dict = {}
    answers: dict[bytes, bytes] = {}
    for i, body in enumerate(bodies[:200]):
        if len(body) < 10:
            continue
        if i % 3 == 0:
            memo[(host, body)] = odd[i % len(odd)]
        else:
            tail = rng.randbytes(rng.randrange(1, 300))
            memo[(host, body)] = (tail, ("head", i), "list")
            answers[body] = tail
    sent = [rng.randbytes(2) + rng.choice(bodies) for _ in range(2000)]
    replies: list[bytes] = []
    done: Replayed | None = None
    for start in range(0, len(sent), 50):  # a few at a time: the socket's buffer holds them
        for payload in sent[start : start + 50]:
            client.sendto(payload, server.getsockname())
        step = Replayed(server, len(sent[start : start + 50]), memo)
        if done is None:
            done = step
        else:
            done.got += step.got
            done.rest += step.rest
            done.rows += step.rows
        client.settimeout(0)  # what was answered is there already: loopback delivers at once
        while True:
            try:
                replies.append(client.recv(4096))
            except BlockingIOError:
                break
    assert done is not None and done.got == len(sent) and done.unsent == 0
    expected = [p[:2] + answers[p[2:]] for p in sent if p[2:] in answers]
    assert 500 < len(expected) < len(sent) - 500  # both kinds, plenty of each
    assert sorted(replies) == sorted(expected)
    assert sorted(p for p, *_ in done.rest) == sorted(p for p in sent if p[2:] not in answers)
    assert len(done.rows) == len(expected)


# What a block kept for a name's class looks like (agent.dns.server.FilterResolver._keep_class):
# the rules engine decides alike every name no rule names (no suffix in `special`) with one
# listed suffix in `index`, of one claim set.
ADULT, OTHER = 3, 5
ROW_FRONT, ROW_BACK = ("aa:bb", "Sam"), ("A", "block", "Blocked: adult is for 18+", "age-category")


def class_tables() -> tuple[object, object, bytes]:
    special = fastpath.Table(fastpath.build_table([("parent-rule.example", 0)]))
    index = fastpath.Table(
        fastpath.build_table(
            [("adult.example", ADULT), ("sub.adult.example", 4), ("parent-rule.example", ADULT),
             ("home.arpa", ADULT), ("other.example", OTHER)]
        )
    )  # fmt: skip
    return special, index, b"version.houserules.home.arpa"


def shape_of(q: wire.Query) -> int:
    return q.qtype << 3 | (q.flags >> 6 & 4) | q.edns << 1 | q.do


def class_entry(q: wire.Query | None = None, client: str = "192.0.2.9") -> tuple:
    """(reply header, what follows the question, row before the name, after it, rule kind)"""
    q = q or wire.parse_query(dnslib_query("x.adult.example", "A"))
    header, after = wire.block_shape(q.qtype, q.flags, q.edns, q.do, "null", 60)
    return header, after, (client, *ROW_FRONT), ROW_BACK, "age-category"


def test_replay_blocks_a_name_the_memo_has_not_seen_by_its_class(udp) -> None:
    """One entry per client, list claim set and shape of question blocks every name of that
    class, with the reply and the row Python would make; any other name goes to Python."""
    server, client, host = udp
    classes = class_tables()
    plain = wire.parse_query(dnslib_query("x.adult.example", "A"))
    dnssec = wire.parse_query(dnslib_query("x.adult.example", "A", edns=True, do=True))
    memo: dict = {
        (host, ADULT, shape_of(plain)): class_entry(plain, host),
        (host, ADULT, shape_of(dnssec)): class_entry(dnssec, host),
        ("198.51.100.7", OTHER, shape_of(plain)): class_entry(plain),
    }
    blocked = [
        dnslib_query("n1.adult.example", "A"),
        dnslib_query("N2.Adult.EXAMPLE", "A"),  # the question keeps its case; the row not
        dnslib_query("adult.example", "A"),
        dnslib_query("deep.n3.adult.example", "A", edns=True, do=True),
    ]
    opcode = bytearray(dnslib_query("n4.adult.example", "A"))
    opcode[2] |= 0x28  # an UPDATE, not a QUERY
    left = [
        dnslib_query("n5.adult.example", "AAAA"),  # no block kept for this shape yet
        dnslib_query("n6.adult.example", "A", edns=True),  # nor this one
        dnslib_query("x.parent-rule.example", "A"),  # a rule names it
        dnslib_query("n7.sub.adult.example", "A"),  # two lists claim it
        dnslib_query("unlisted.example", "A"),
        dnslib_query("n8.other.example", "A"),  # blocked for another client
        dnslib_query("version.houserules.home.arpa", "A"),  # the box's own name
        bytes(opcode),
        dnslib_query("n9.adult.example", "A")[:-3],  # cut short
    ]
    sent = blocked + left
    for payload in sent:
        client.sendto(payload, server.getsockname())
    done = Replayed(server, len(sent), memo, classes=classes)
    assert done.got == len(sent) and done.unsent == 0
    replies = {client.recv(4096) for _ in blocked}
    expected = set()
    for payload in blocked:
        q = wire.parse_query(payload)
        expected.add(payload[:2] + wire.block_tail(q, "null", 60))
    assert replies == expected
    assert {DNSRecord.parse(r).q.qname.label[0] for r in replies} >= {b"N2"}
    client.settimeout(0.2)
    with pytest.raises(TimeoutError):
        client.recv(4096)
    assert [payload for payload, *_ in done.rest] == left
    names = [wire.parse_query(payload).name for payload in blocked]
    assert done.rows == [
        (1000.5, (host, *ROW_FRONT, name, *ROW_BACK), None, None, False) for name in names
    ]
    assert done.blocked == {"age-category": len(blocked)} and done.cached == 0


def test_replay_by_class_leaves_odd_entries_to_python(udp) -> None:
    server, client, host = udp
    q = wire.parse_query(dnslib_query("n1.adult.example", "A"))
    good = class_entry(q)
    odd = [None, "entry", good[:4], (*good, "extra"), (good[0][:9], *good[1:]),
           (good[0], "after", *good[2:]), (*good[:2], ("front",), *good[3:]),
           (*good[:3], ["back"], good[4])]  # fmt: skip
    for value in odd:
        memo = {(host, ADULT, shape_of(q)): value}
        client.sendto(dnslib_query("n1.adult.example", "A"), server.getsockname())
        done = Replayed(server, 1, memo, classes=class_tables())
        assert len(done.rest) == 1 and done.rows == [] and done.blocked == {}, value
    client.settimeout(0.2)
    with pytest.raises(TimeoutError):
        client.recv(4096)


def test_replay_on_a_closed_fd_and_with_bad_arguments() -> None:
    from agent.dns.server import _Prepared

    args = [{}, _Prepared, 1.0, 1.0, print, {}, None, frozenset(), 1.0, None]
    with pytest.raises(OSError) as error:
        fastpath.replay_batch(-1, 32, *args)
    assert error.value.errno == EBADF
    with pytest.raises(TypeError):
        fastpath.replay_batch(-1, 32, [], *args[1:])
    with pytest.raises(TypeError):
        fastpath.replay_batch(-1, 32, *args[:-1])
    with pytest.raises(ValueError):
        fastpath.replay_batch(-1, 0, *args)
    special, index, box = class_tables()
    for classes in ((special, index), (special, index, "box"), (special, "index", box), [1]):
        with pytest.raises(TypeError):
            fastpath.replay_batch(-1, 32, *args[:-1], classes)


# ---------------------------------------------------------------- leaks


def grows(work: Callable[[], object], rounds: int) -> int:
    """Bytes still held after `rounds` calls of work, beyond a warmed-up start."""
    for _ in range(1000):
        work()
    gc.collect()
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    for _ in range(rounds):
        work()
    gc.collect()
    end = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return end - start


def test_no_leaks(raw_table: bytes, listed: dict[str, int]) -> None:
    good = dnslib_query("WWW.Example.com", "AAAA", edns=True, do=True)
    by_class = dnslib_query("n1.Adult.example", "A")
    bad = packet([b"example", b"com"], counts=(1, 0, 0, 2), additional=opt() + opt())
    table = fastpath.Table(raw_table)
    hit = "www." + next(iter(listed))
    small = [("example.com", 1), ("ads.example.com", 2)]
    shared = [(), True, False, None, b"", "", good, raw_table, hit, by_class]
    refs = [sys.getrefcount(obj) for obj in shared]  # a leaked reference per call shows here

    def parse() -> None:
        fastpath.parse_query(good)
        with pytest.raises(ValueError):
            fastpath.parse_query(bad)

    assert grows(parse, 200_000) < 64 * 1024
    assert grows(lambda: (table.lookup(hit), table.lookup("miss.invalid")), 200_000) < 64 * 1024
    assert grows(lambda: fastpath.Table(raw_table), 200_000) < 64 * 1024
    assert grows(lambda: fastpath.build_table(small), 50_000) < 64 * 1024
    with pytest.raises(ValueError):
        fastpath.build_table(small * 2)
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client,
    ):
        server.bind(("127.0.0.1", 0))
        client.bind(("127.0.0.1", 0))
        client.sendto(b"x", server.getsockname())
        [(_, _, to_client)] = receive(server, 1)
        batch = [(good, to_client)] * 16

        def round_trip() -> None:
            assert fastpath.send_batch(server.fileno(), batch) == 16
            assert len(fastpath.recv_batch(client.fileno(), 64)) == 16
            fastpath.recv_batch(client.fileno(), 64)  # nothing left: []

        assert grows(round_trip, 12_500) < 64 * 1024  # 200,000 datagrams each way
        from agent.dns.server import _Prepared

        head = ("head", hit)
        fresh = prepared(good[2:], head, tail=good[2:], expires=1e9, fits=True)
        memo: dict = {}
        rows: list[tuple] = []
        counts: dict[str, int] = {}

        def replay(
            key: tuple, entry: object, ask: bytes = good, classes: object = None
        ) -> Callable[[], None]:
            memo[key] = entry

            def work() -> None:
                for _ in range(8):
                    client.sendto(ask, server.getsockname())
                got, rest, _, _ = fastpath.replay_batch(
                    server.fileno(), 64, memo, _Prepared, 1.0, 5.0, rows.append, counts,
                    None, frozenset(), 1.0, classes,
                )  # fmt: skip
                assert got == 8 and rest == []
                assert len(fastpath.recv_batch(client.fileno(), 64)) == 8
                rows.clear()

            return work

        key = ("127.0.0.1", good[2:])
        assert grows(replay(key, (good[2:], head, "list")), 5_000) < 64 * 1024
        assert grows(replay(key, fresh), 5_000) < 64 * 1024
        old = prepared(good[2:], head, tail=good[2:], fits=True, aging=aging(1, 1e9, 9, (10, 300)))
        aged = replay(key, old)

        def age_again() -> None:
            old.expires = 0.0  # past its second again: aged anew each time
            aged()

        assert grows(age_again, 5_000) < 64 * 1024
        classes = class_tables()
        key = ("127.0.0.1", ADULT, shape_of(wire.parse_query(by_class)))
        assert grows(replay(key, class_entry(), by_class, classes), 5_000) < 64 * 1024
    changes = [sys.getrefcount(obj) - before for obj, before in zip(shared, refs, strict=True)]
    # None, True, () and the like are shared with every thread in the process (a suite leaves
    # some running), so their counts drift by thousands; a leak here would be 200,000 or more.
    singletons, ours = changes[:6], changes[6:]
    assert all(abs(change) < 50_000 for change in singletons), changes
    assert all(abs(change) < 1000 for change in ours), changes


WIDTHS = [(0, 1), (255, 1), (256, 2), (65_535, 2), (65_536, 4)]


@pytest.mark.parametrize(("largest", "width"), WIDTHS)
def test_set_ids_take_the_fewest_bytes_that_hold_them(largest: int, width: int) -> None:
    """A million names of one list are one byte of id each, not four."""
    rng = random.Random(largest)
    listed = {name: rng.randrange(largest + 1) for name in random_names(rng, 500)}
    listed["top.example"] = largest
    raw = fastpath.build_table(listed.items())
    assert id_width(raw) == width
    _, _, hashes, ids = parse_table(raw)
    assert dict(zip(hashes, ids, strict=True)) == {reference_hash(n): i for n, i in listed.items()}
    table = fastpath.Table(raw)
    for name, set_id in listed.items():
        assert table.lookup("www." + name)[-1] == (len(name), set_id)


# ---------------------------------------------------------------- trim_heap


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(
    not os.path.exists("/proc/self/status") or platform.libc_ver()[0] != "glibc",
    reason="needs Linux's /proc and glibc's malloc",
)
def test_trim_heap_gives_freed_heap_pages_back() -> None:
    """Blocks freed in the middle of malloc's heap stay in the RSS until trim_heap."""
    blocks = [bytes(2048) for _ in range(20_000)]  # ~40 MB from malloc (past pymalloc's 512)
    kept = blocks[::100]  # a few survivors keep the heap from shrinking by itself
    del blocks
    before = _rss_mb()
    assert fastpath.trim_heap() is True
    assert before - _rss_mb() > 20, "the freed blocks' pages were not given back"
    assert len(kept) == 200
    assert fastpath.trim_heap() in (True, False)  # nothing much left: cheap, harmless
