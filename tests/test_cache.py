"""The answer cache on its own: TTLs that count down, clamps, negative answers, stale answers
and the size bound, with replies built by dnslib as an upstream would send them."""

from __future__ import annotations

from dnslib import QTYPE, RR, SOA, A, DNSRecord

from agent.dns.answers import PLAIN, Facts
from agent.dns.cache import ResponseCache


def reply(name: str = "example.com", ttls: tuple[int, ...] = (300,), rcode: int = 0) -> bytes:
    r = DNSRecord.question(name, "A").reply()
    r.header.rcode = rcode
    for i, ttl in enumerate(ttls):
        r.add_answer(RR(name, QTYPE.A, rdata=A(f"192.0.2.{i + 1}"), ttl=ttl))
    return bytes(r.pack())


def negative(name: str, soa_ttl: int, minimum: int, rcode: int = 3) -> bytes:
    r = DNSRecord.question(name, "A").reply()
    r.header.rcode = rcode
    soa = SOA("ns.example.com", "admin.example.com", (1, 3600, 600, 86400, minimum))
    r.add_auth(RR("example.com", QTYPE.SOA, rdata=soa, ttl=soa_ttl))
    return bytes(r.pack())


def ttls_of(data: bytes) -> list[int]:
    record = DNSRecord.parse(data)
    return [rr.ttl for rr in record.rr + record.auth]


def test_ttls_count_down_from_what_was_stored() -> None:
    cache = ResponseCache()
    assert cache.put(b"k", reply(ttls=(300, 120)), now=1000.0)
    assert ttls_of(cache.get(b"k", 1000.0).served) == [300, 120]
    assert ttls_of(cache.get(b"k", 1100.9).served) == [200, 20]
    assert ttls_of(cache.get(b"k", 1119.0).served) == [181, 1]
    assert cache.get(b"k", 1120.0) is None  # the smallest TTL decides how long it lives
    assert (cache.hits, cache.misses) == (3, 1)


def test_the_answer_and_its_records_stay_as_sent() -> None:
    cache = ResponseCache()
    sent = reply("www.example.org", (60,))
    cache.put(b"k", sent, now=0.0)
    got = DNSRecord.parse(cache.get(b"k", 30.0).served)
    assert str(got.q.qname) == "www.example.org." and str(got.rr[0].rdata) == "192.0.2.1"
    assert got.rr[0].ttl == 30 and len(cache.get(b"k", 30.0).served) == len(sent)


def test_ttls_are_clamped() -> None:
    cache = ResponseCache(min_ttl=60, max_ttl=600)
    cache.put(b"short", reply(ttls=(5,)), now=0.0)
    cache.put(b"long", reply(ttls=(86_400,)), now=0.0)
    assert ttls_of(cache.get(b"short", 0.0).served) == [60]
    assert ttls_of(cache.get(b"long", 0.0).served) == [600]
    assert cache.get(b"long", 600.0) is None


def test_negative_answers_live_for_the_soa_minimum_and_no_longer_than_allowed() -> None:
    cache = ResponseCache(negative_max_ttl=120)
    assert cache.put(b"nx", negative("gone.example.com", 900, 30), now=0.0)
    assert cache.get(b"nx", 29.0) is not None and cache.get(b"nx", 30.0) is None
    assert cache.put(b"nx2", negative("gone.example.com", 3600, 3600), now=0.0)
    assert cache.get(b"nx2", 119.0) is not None and cache.get(b"nx2", 120.0) is None
    nodata = negative("example.com", 300, 300, rcode=0)  # NOERROR with no answer: NODATA
    assert cache.put(b"nodata", nodata, now=0.0)


def test_what_cannot_be_cached_is_not() -> None:
    cache = ResponseCache()
    assert not cache.put(b"a", reply(ttls=()), now=0.0)  # NODATA without an SOA: no TTL
    assert not cache.put(b"b", reply(rcode=2), now=0.0)  # SERVFAIL
    assert not cache.put(b"c", b"\x00\x01garbage", now=0.0)
    assert len(cache) == 0


def test_stale_answers_come_with_a_short_ttl_within_their_time() -> None:
    cache = ResponseCache(stale_ttl=30, stale_max_age=3600)
    cache.put(b"k", reply(ttls=(300,)), now=0.0)
    assert cache.get(b"k", 400.0) is None
    assert ttls_of(cache.get_stale(b"k", 400.0)) == [30]
    assert cache.get_stale(b"k", 300.0 + 3601) is None
    assert cache.stale_served == 1


def test_the_oldest_used_answer_goes_first_when_full() -> None:
    cache = ResponseCache(size=2)
    cache.put(b"a", reply(), now=0.0)
    cache.put(b"b", reply(), now=0.0)
    cache.get(b"a", 1.0)  # a is used again, so b is the oldest
    cache.put(b"c", reply(), now=2.0)
    assert cache.get(b"b", 2.0) is None
    assert cache.get(b"a", 2.0) is not None and cache.get(b"c", 2.0) is not None


def test_entries_of_different_shapes_keep_their_own_ttls_as_they_age() -> None:
    """Each entry's stored time, TTL offsets and TTLs are packed together: answers with one,
    three and no-answer-but-SOA records age from their own figures, fresh and stale."""
    cache = ResponseCache(stale_ttl=30, stale_max_age=3600)
    cache.put(b"one", reply(ttls=(90,)), now=10.5)
    cache.put(b"three", reply(ttls=(400, 3600, 200)), now=20.0)
    cache.put(b"nx", negative("gone.example.com", 600, 600), now=30.0)
    assert ttls_of(cache.get(b"one", 70.0).served) == [31]
    assert ttls_of(cache.get(b"three", 70.0).served) == [350, 3550, 150]
    assert ttls_of(cache.get(b"nx", 70.0).served) == [560]
    assert cache.get(b"one", 100.5) is None
    assert ttls_of(cache.get_stale(b"one", 100.5)) == [30]
    assert ttls_of(cache.get_stale(b"three", 300.0)) == [30, 30, 30]
    assert ttls_of(cache.get(b"three", 219.9).served) == [201, 3401, 1]


def test_a_hot_answer_stays_while_cold_ones_make_room() -> None:
    """Second chance: an answer served since it was stored is kept when the cache is over its
    size; answers nobody asked for again leave, oldest first; the one just stored stays."""
    cache = ResponseCache(size=300)
    day = reply(ttls=(86_400,))
    cache.put(b"hot", day, now=0.0)
    for i in range(2_000):
        assert cache.get(b"hot", float(i)) is not None
        cache.put(b"cold%d" % i, day, now=float(i))
        assert len(cache) <= 300
    assert cache.get(b"cold1999", 2_000.0) is not None
    assert cache.get(b"cold1000", 2_000.0) is None  # long pushed out
    kept = [i for i in range(2_000) if cache.get(b"cold%d" % i, 2_000.0) is not None]
    assert kept == list(range(2_000 - len(kept), 2_000)) and len(kept) >= 290  # the newest


def test_the_answer_just_stored_stays_even_in_a_cache_of_one() -> None:
    cache = ResponseCache(size=1)
    cache.put(b"a", reply(), now=0.0)
    cache.get(b"a", 1.0)
    cache.put(b"b", reply(), now=2.0)
    assert cache.get(b"b", 2.0) is not None and cache.get(b"a", 2.0) is None
    assert len(cache) == 1


def test_a_replaced_answer_is_as_new() -> None:
    cache = ResponseCache(size=2)
    cache.put(b"a", reply(), now=0.0)
    cache.put(b"b", reply(), now=0.0)
    cache.put(b"a", reply(ttls=(600,)), now=1.0)  # stored again: now the newest
    cache.put(b"c", reply(), now=2.0)
    assert cache.get(b"b", 2.0) is None
    assert ttls_of(cache.get(b"a", 2.0).served) == [599] and cache.get(b"c", 2.0) is not None


def test_what_an_answer_leads_to_is_kept_with_it_and_leaves_with_it() -> None:
    """Facts are kept beside the entries, only for answers that lead somewhere (or were not
    read yet); a later reading is remembered; an evicted or replaced answer takes them along."""
    leads = Facts(names=("tiktok.com",))
    cache = ResponseCache(size=2)
    cache.put(b"cname", reply(), now=0.0, facts=leads)
    cache.put(b"plain", reply(), now=0.0, facts=PLAIN)
    assert cache.get(b"cname", 1.0).facts is leads and cache.get(b"plain", 1.0).facts is PLAIN
    cache.put(b"unread", reply(), now=2.0)  # a rewrite's answer: stored without reading it
    assert cache.get(b"unread", 2.0).facts is None
    cache.note_facts(b"unread", leads)
    assert cache.get(b"unread", 3.0).facts is leads
    cache.put(b"cname", reply(), now=4.0, facts=PLAIN)  # replaced by a plain answer
    assert cache.get(b"cname", 4.0).facts is PLAIN
    for i in range(5):  # "unread" and the rest pushed out: nothing of theirs stays
        cache.put(b"new%d" % i, reply(), now=5.0, facts=PLAIN)
    assert cache.get(b"unread", 5.0) is None and cache._facts == {}


def test_a_clock_behind_the_store_reads_the_ttls_as_stored() -> None:
    cache = ResponseCache()
    cache.put(b"k", reply(ttls=(300,)), now=100.0)
    assert ttls_of(cache.get(b"k", 40.0).served) == [300]  # never more than was stored
    assert ttls_of(cache.get(b"k", 160.0).served) == [240]
