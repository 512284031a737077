"""DNS wire format on the hot path: read a query and build small answers from raw bytes.

dnslib is thorough but slow for the common case, so a query is read here by hand (header,
one question, an optional EDNS OPT record) and cached answers are re-used as bytes: the ID is
patched and the client's own question bytes spliced in, never a full re-encode.
Anything unusual goes to the slow path, which uses dnslib.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dnslib import QTYPE

from agent.dns.native import fastpath

HEADER = struct.Struct(">HHHHHH")
RR_FIXED = struct.Struct(">HHIH")  # type, class, ttl, rdlength

NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
TYPE_A, TYPE_NS, TYPE_CNAME, TYPE_SOA, TYPE_AAAA, TYPE_OPT = 1, 2, 5, 6, 28, 41
TYPE_AXFR, TYPE_IXFR, TYPE_ANY = 252, 251, 255
CLASS_IN = 1
EDNS_SIZE = 1232  # what we advertise and accept at most over UDP (DNS flag day 2020)
QTYPE_NAMES: dict[int, str] = {k: v for k, v in QTYPE.forward.items()}


class WireError(ValueError):
    """A packet that is not a well-formed DNS query."""


@dataclass(slots=True)
class Query:
    id: int
    flags: int
    name: str  # lower-case, no trailing dot; "" for the root
    qtype: int
    qclass: int
    question: bytes  # the client's question section as sent (for splicing into replies)
    key: bytes  # cache key: lower-cased question plus the EDNS DO bit
    edns: bool
    udp_size: int  # what the client can take over UDP
    do: bool
    opt: bytes = b""  # the client's OPT record as sent (never forwarded)

    def upstream_packet(self) -> bytes:
        """A clean query to forward: ID 0 (the pool sets its own), RD and CD kept, the
        question, and when the client spoke EDNS our own OPT record: UDP size 1232, the DO bit,
        no options. Client Subnet, cookies and anything else the client added stay here, so
        the upstream learns nothing about which device asked."""
        flags = self.flags & 0x0110
        opt = opt_record(self.do) if self.edns else b""
        return HEADER.pack(0, flags, 1, 0, 0, 1 if opt else 0) + self.question + opt

    @property
    def rd(self) -> int:
        return self.flags & 0x0100

    @property
    def qtype_name(self) -> str:
        return QTYPE_NAMES.get(self.qtype) or f"TYPE{self.qtype}"


def fields_of(q: Query) -> tuple:
    """A parsed query as `parse_fields` gives it: `Query(*fields_of(q)) == q`."""
    return (q.id, q.flags, q.name, q.qtype, q.qclass, q.question, q.key, q.edns, q.udp_size,
            q.do, q.opt)  # fmt: skip


def parse_query(data: bytes) -> Query:
    """Read a query; raise WireError for anything that is not one well-formed question.

    The compiled parser, when built, does exactly what `parse_query_py` does (a differential
    test holds them to it), in about a tenth of the time."""
    if _parse_c is None:
        return parse_query_py(data)
    try:
        return Query(*_parse_c(data))
    except ValueError as exc:
        raise WireError(str(exc)) from None


def parse_query_py(data: bytes) -> Query:
    """The reference parser, in Python."""
    if len(data) < 12:
        raise WireError("shorter than a DNS header")
    qid, flags, qd, an, ns, ar = HEADER.unpack_from(data)
    if flags & 0x8000:
        raise WireError("a response, not a query")
    if qd != 1:
        raise WireError(f"{qd} questions (one is expected)")
    if an or ns:
        raise WireError("a query with answer or authority records")
    end, labels = _read_qname(data, 12)
    if end + 4 > len(data):
        raise WireError("question is cut short")
    qtype, qclass = struct.unpack_from(">HH", data, end)
    qend = end + 4
    edns, udp_size, do, opt = False, 512, False, b""
    if ar:
        if ar > 1:
            raise WireError("more than one additional record")
        edns, udp_size, do, opt = _read_opt(data, qend)
    question = data[12:qend]
    # Only the name is case-insensitive: lower-casing the type bytes would merge, say,
    # HTTPS (65, "A") with type 97 ("a").
    flags_key = (b"\x01" if do else b"\x00") + (b"\x01" if edns else b"\x00")
    key = data[12:end].lower() + data[end:qend] + flags_key
    name = ".".join(labels)
    return Query(qid, flags, name, qtype, qclass, question, key, edns, udp_size, do, opt)


_parse_c = fastpath.parse_query if fastpath is not None else None
# The compiled parser itself, for the server's hot path (one Python call fewer than
# `parse_query`): `Query(*parse_fields(data))`, raising ValueError. None when not built.
parse_fields = _parse_c


def _read_qname(data: bytes, pos: int) -> tuple[int, list[str]]:
    labels: list[str] = []
    total = 0
    n = len(data)
    while True:
        if pos >= n:
            raise WireError("name runs past the end")
        length = data[pos]
        if length == 0:
            return pos + 1, labels
        if length & 0xC0:
            raise WireError("compressed or extended label in a question")
        total += length + 1
        if total > 254:
            raise WireError("name longer than 255 bytes")
        label = data[pos + 1 : pos + 1 + length]
        if len(label) < length:
            raise WireError("label runs past the end")
        labels.append(label.lower().decode("latin-1"))  # ASCII-only, as RFC 4343 says
        pos += 1 + length


def _read_opt(data: bytes, pos: int) -> tuple[bool, int, bool, bytes]:
    """Find an OPT record in the additional section (the only one we accept there)."""
    if pos + 11 > len(data) or data[pos] != 0:
        raise WireError("additional record is not an EDNS OPT record")
    rtype, size, ttl, rdlen = RR_FIXED.unpack_from(data, pos + 1)
    if rtype != TYPE_OPT or pos + 11 + rdlen > len(data):
        raise WireError("additional record is not a valid EDNS OPT record")
    opt = data[pos : pos + 11 + rdlen]
    return True, max(512, min(size, EDNS_SIZE)), bool(ttl & 0x8000), opt


def opt_record(do: bool = False) -> bytes:
    """Our own OPT record: root name, type OPT, our UDP size, DO echoed."""
    return b"\x00" + RR_FIXED.pack(TYPE_OPT, EDNS_SIZE, 0x8000 if do else 0, 0)


def error_reply(data: bytes, rcode: int) -> bytes | None:
    """A reply carrying only an rcode, echoing what can be read of the request."""
    if len(data) < 12:
        return None  # not even a header: nothing to answer
    qid, flags, qd = struct.unpack_from(">HHH", data)
    if flags & 0x8000:
        return None  # never answer a response (reflection loops)
    try:
        end, _ = _read_qname(data, 12) if qd == 1 else (12, [])
        qend = end + 4 if qd == 1 and end + 4 <= len(data) else 12
    except WireError:
        qend = 12
    qdcount = 1 if qend > 12 else 0
    out_flags = 0x8000 | (flags & 0x7900) | 0x0080 | rcode  # QR, opcode+RD, RA
    return HEADER.pack(qid, out_flags, qdcount, 0, 0, 0) + data[12:qend]


def encode_name(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".") if p) + b"\x00"


_SOA_NAMES = encode_name("houserules.local") + encode_name("parent.houserules.local")


def synth_soa(ttl: int) -> bytes:
    """An SOA for the question's zone (owner = pointer to the question name), so clients
    cache a negative answer for `ttl` seconds only (RFC 2308 uses the SOA minimum)."""
    rdata = _SOA_NAMES + struct.pack(">IIIII", 1, 3600, 600, 86400, ttl)
    return b"\xc0\x0c" + RR_FIXED.pack(TYPE_SOA, CLASS_IN, ttl, len(rdata)) + rdata


def block_reply(q: Query, mode: str, ttl: int, nxdomain: bool = False) -> bytes:
    """The answer for a blocked name: NXDOMAIN, or 0.0.0.0 / :: ("null" mode)."""
    return q.id.to_bytes(2, "big") + block_tail(q, mode, ttl, nxdomain)


def block_tail(q: Query, mode: str, ttl: int, nxdomain: bool = False) -> bytes:
    """`block_reply` after its ID: any query's ID in front of it makes the answer."""
    return block_tail_of(q.qtype, q.flags, q.edns, q.do, q.question, mode, ttl, nxdomain)


def block_tail_of(
    qtype: int,
    flags: int,
    edns: bool,
    do: bool,
    question: bytes,
    mode: str,
    ttl: int,
    nxdomain: bool = False,
) -> bytes:
    """`block_tail` from a query's parsed fields (`parse_fields`), for the server's blocked
    path, which makes no `Query` for a question it blocks."""
    head, after = block_shape(qtype, flags, edns, do, mode, ttl, nxdomain)
    return head + question + after


def block_shape(
    qtype: int, flags: int, edns: bool, do: bool, mode: str, ttl: int, nxdomain: bool = False
) -> tuple[bytes, bytes]:
    """A blocked reply but for its ID and question: the header after the ID (10 bytes), and
    what follows the question."""
    kind = qtype if qtype in (TYPE_A, TYPE_AAAA) else 0  # others: no records
    shape = (kind, flags & 0x0100, edns, do, mode, ttl, nxdomain)
    made = _BLOCK_SHAPES.get(shape)
    if made is None:
        made = _BLOCK_SHAPES[shape] = _block_shape(qtype, flags, edns, do, mode, ttl, nxdomain)
    return made


# What follows the question in a blocked reply depends on a handful of things about the
# query, never on the name (the SOA's owner points back at the question): built once each.
_BLOCK_SHAPES: dict[tuple[int, int, bool, bool, str, int, bool], tuple[bytes, bytes]] = {}


def _block_shape(
    qtype: int, qflags: int, edns: bool, do: bool, mode: str, ttl: int, nxdomain: bool
) -> tuple[bytes, bytes]:
    """The header after its ID, and what follows the question."""
    answer = b""
    if nxdomain or mode == "nxdomain":
        rcode = NXDOMAIN
    else:
        rcode = NOERROR
        if qtype == TYPE_A:
            answer = b"\xc0\x0c" + RR_FIXED.pack(TYPE_A, CLASS_IN, ttl, 4) + bytes(4)
        elif qtype == TYPE_AAAA:
            answer = b"\xc0\x0c" + RR_FIXED.pack(TYPE_AAAA, CLASS_IN, ttl, 16) + bytes(16)
    authority = b"" if answer else synth_soa(ttl)
    opt = opt_record(do) if edns else b""
    flags = 0x8000 | (qflags & 0x0100) | 0x0080 | rcode
    counts = (1 if answer else 0, 0 if answer else 1, 1 if opt else 0)
    return HEADER.pack(0, flags, 1, *counts)[2:], answer + authority + opt


def truncated_reply(q: Query, reply: bytes) -> bytes:
    """The reply cut to its header and question with TC set: the client retries over TCP."""
    qid, flags = struct.unpack_from(">HH", reply)  # the reply carries the client's own ID
    opt = opt_record(q.do) if q.edns else b""
    return HEADER.pack(qid, flags | 0x0200, 1, 0, 0, 1 if opt else 0) + q.question + opt


@dataclass(slots=True)
class ReplyInfo:
    rcode: int
    truncated: bool
    ttl_offsets: tuple[int, ...]  # where each answer/authority TTL sits (OPT excluded)
    min_ttl: int | None  # smallest TTL among those records, None when there are none
    soa_min: int | None  # negative-caching TTL from an authority SOA (RFC 2308)
    question_end: int


def inspect_reply(data: bytes) -> ReplyInfo:
    """Walk a reply's records once to find its TTLs; raise WireError if it is malformed."""
    if len(data) < 12:
        raise WireError("reply shorter than a header")
    _, flags, qd, an, ns, ar = HEADER.unpack_from(data)
    pos = 12
    for _ in range(qd):
        pos = _skip_name(data, pos) + 4
    offsets: list[int] = []
    min_ttl: int | None = None
    soa_min: int | None = None
    for i in range(an + ns + ar):
        pos = _skip_name(data, pos)
        if pos + 10 > len(data):
            raise WireError("record cut short")
        rtype, _, ttl, rdlen = RR_FIXED.unpack_from(data, pos)
        if rtype != TYPE_OPT:
            offsets.append(pos + 4)
            min_ttl = ttl if min_ttl is None else min(min_ttl, ttl)
            if rtype == TYPE_SOA and an <= i < an + ns:
                soa_min = min(ttl, _soa_minimum(data, pos + 10, rdlen))
        pos += 10 + rdlen
        if pos > len(data):
            raise WireError("record data runs past the end")
    q_end = _question_end(data, qd)
    return ReplyInfo(flags & 0xF, bool(flags & 0x0200), tuple(offsets), min_ttl, soa_min, q_end)


def _question_end(data: bytes, qd: int) -> int:
    pos = 12
    for _ in range(qd):
        pos = _skip_name(data, pos) + 4
    return pos


def _skip_name(data: bytes, pos: int) -> int:
    n = len(data)
    while True:
        if pos >= n:
            raise WireError("name runs past the end")
        length = data[pos]
        if length == 0:
            return pos + 1
        if length & 0xC0 == 0xC0:
            if pos + 2 > n:
                raise WireError("pointer cut short")
            return pos + 2
        if length & 0xC0:
            raise WireError("unknown label type")
        pos += 1 + length


def _soa_minimum(data: bytes, rdata_start: int, rdlen: int) -> int:
    end = rdata_start + rdlen
    if rdlen < 22 or end > len(data):
        raise WireError("SOA record too short")
    return struct.unpack_from(">I", data, end - 4)[0]


def with_ttls(data: bytes, offsets: tuple[int, ...], ttls: tuple[int, ...]) -> bytes:
    buf = bytearray(data)
    for off, ttl in zip(offsets, ttls, strict=True):
        struct.pack_into(">I", buf, off, ttl)
    return bytes(buf)


def read_ttls(data: bytes, offsets: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(struct.unpack_from(">I", data, off)[0] for off in offsets)
