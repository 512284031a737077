"""Fuzz the compiled fast path (`agent/dns/_fastpath.c`) with untrusted-looking input.

A tool, not a test (tests/test_fastpath.py runs a short seeded version on every `make test`):

    .venv/bin/python bench/fastpath_fuzz.py                     # 2M random inputs, about 1 min
    .venv/bin/python bench/fastpath_fuzz.py --so PATH.so        # e.g. a sanitizer build, below
    .venv/bin/python bench/fastpath_fuzz.py --atheris -- -max_total_time=60   # pip install atheris

Each input goes to parse_query (its answer compared with agent.dns.wire's Python parser), to
Table (raw, and patched into a valid table so it passes the magic and size checks) with lookups
of names cut from it, and to build_table. Any difference or any exception other than
ValueError stops the run with the input that caused it.

An AddressSanitizer build, outside the project tree:

    CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer" .venv/bin/python setup.py \\
        build_ext --build-lib /tmp/asan --build-temp /tmp/asan/tmp
    LD_PRELOAD=$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so) \\
        ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \\
        .venv/bin/python bench/fastpath_fuzz.py --so /tmp/asan/agent/dns/_fastpath.*.so
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import random
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SEEDS = [
    b"\xbe\xef\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01",
    b"\x00\x01\x01\x20\x00\x01\x00\x00\x00\x00\x00\x01\x03WWW\x07Example\x03COM\x00\x00\x41\x00"
    b"\x01\x00\x00\x29\x10\x00\x00\x00\x80\x00\x00\x0c\x00\x0a\x00\x08\x01\x02\x03\x04\x05\x06"
    b"\x07\x08",
    b"\x12\x34\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x01",
    b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01\x03a\xffb\x02\xc4Z\x00\x00\x1c\x00\x01"
    b"\x00\x00\x29\x02\x00\x00\x00\x00\x00\x00\x00",
]
NAMES = ["example.com", "ads.example.com", "com", "co.uk", "a.b.c.d.e", "x" * 63 + ".net"]


def load(so: str | None) -> ModuleType:
    """agent.dns._fastpath, from `so` when given (agent.dns.wire then uses it too)."""
    import agent.dns

    if so is None:
        from agent.dns import _fastpath  # type: ignore[attr-defined]

        return _fastpath
    spec = importlib.util.spec_from_file_location("agent.dns._fastpath", so)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules["agent.dns._fastpath"] = module
    agent.dns._fastpath = module  # type: ignore[attr-defined]
    return module


class Fuzzer:
    def __init__(self, fastpath: ModuleType) -> None:
        from agent.dns import wire  # after load(), so wire sees the module under test

        self.fp = fastpath
        self.reference = getattr(wire, "parse_query_py", wire.parse_query)
        self.fields = [f.name for f in dataclasses.fields(wire.Query)]
        self.listed = {name: i for i, name in enumerate(NAMES)}
        self.raw = fastpath.build_table(self.listed.items())
        self.table = fastpath.Table(self.raw)

    def expected(self, data: bytes) -> object:
        try:
            q = self.reference(data)
        except ValueError as exc:
            return str(exc)
        name = ".".join(
            bytes(label).lower().decode("latin-1") for label in _labels(bytes(q.question))
        )
        values = [name if f == "name" else getattr(q, f) for f in self.fields]
        return [(type(v), v) for v in values]

    def actual(self, data: bytes) -> object:
        try:
            return [(type(v), v) for v in self.fp.parse_query(data)]
        except ValueError as exc:
            return str(exc)

    def one(self, data: bytes) -> None:
        want, got = self.expected(data), self.actual(data)
        if want != got:
            raise AssertionError(f"parse_query differs on {data!r}:\n  C  {got}\n  py {want}")
        text = data.decode("latin-1")
        queries = [text, text[:255], *text.split("\0")[:4], text + ".example.com"]
        for query in queries:
            hits = self.table.lookup(query)
            if hits != _reference_lookup(self.listed, query):
                raise AssertionError(f"lookup differs on {query!r}: {hits}")
        self._table_from(data, queries)
        self._build_from(text)

    def _table_from(self, data: bytes, queries: list[str]) -> None:
        patched = bytearray(self.raw)
        if len(data) > 2:
            at = int.from_bytes(data[:2], "little") % len(patched)
            patched[at : at + len(data) - 2] = data[2:]  # may also grow or shrink the buffer
        for buf in (data, bytes(patched)):
            try:
                table = self.fp.Table(buf)
            except ValueError:
                continue
            for query in queries + NAMES:
                for length, set_id in table.lookup(query):
                    assert 0 < length <= len(query) and 0 <= set_id < 1 << 32
                table.contains(query)
            assert len(table) >= 0

    def _build_from(self, text: str) -> None:
        pairs = [(name, i) for i, name in enumerate(text.split("\0")[:8])]
        try:
            raw = self.fp.build_table(pairs)
        except ValueError:
            return
        table = self.fp.Table(raw)
        listed = dict(pairs)
        for name in listed:
            assert table.lookup(name) == _reference_lookup(listed, name), name


def _labels(question: bytes) -> list[bytes]:
    labels, pos = [], 0
    while question[pos]:
        labels.append(question[pos + 1 : pos + 1 + question[pos]])
        pos += 1 + question[pos]
    return labels


def _reference_lookup(listed: dict[str, int], name: str) -> tuple[tuple[int, int], ...]:
    suffixes = [name[i + 1 :] for i in range(len(name) - 1, -1, -1) if name[i] == "."] + [name]
    return tuple((len(s), listed[s]) for s in suffixes if s and s in listed)


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3, 5, 8))):
        pos = rng.randrange(len(buf) + 1)
        op = rng.randrange(6)
        if op == 0 and buf:
            buf[pos % len(buf)] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:
            buf[pos % len(buf)] = rng.choice((0, 1, 0x2E, 0x3F, 0x40, 0xC0, 0xFF, 41, 65))
        elif op == 2:
            buf[pos:pos] = rng.randbytes(rng.randint(1, 4))
        elif op == 3:
            del buf[pos : pos + rng.randint(1, 8)]
        elif op == 4:
            del buf[pos:]
        else:
            buf[pos:pos] = buf[rng.randrange(len(buf) + 1) :][: rng.randint(1, 64)]
    return bytes(buf)


def run_random(fuzzer: Fuzzer, iterations: int, seed: int) -> None:
    rng = random.Random(seed)
    pool = list(SEEDS)
    start = time.monotonic()
    for i in range(1, iterations + 1):
        data = mutate(rng, rng.choice(pool))
        fuzzer.one(data)
        if len(pool) < 4096 and rng.random() < 0.01:
            pool.append(data)  # keep some mutants as seeds: deeper, stranger inputs
        if i % 200_000 == 0:
            print(f"{i:>10,} inputs, {time.monotonic() - start:.0f} s, all agree", flush=True)


def run_atheris(fuzzer: Fuzzer, argv: list[str]) -> None:
    """Coverage comes from the Python reference parser (the C code is not instrumented by a
    gcc build), whose branches mirror the C ones; the seeds start it off."""
    import atheris  # type: ignore[import-not-found]

    if not any(not arg.startswith("-") for arg in argv):
        corpus = Path(tempfile.mkdtemp(prefix="fastpath-corpus-"))
        for i, seed in enumerate(SEEDS):
            (corpus / f"seed{i}").write_bytes(seed)
        argv = [*argv, str(corpus)]
    atheris.instrument_all()
    atheris.Setup([sys.argv[0], *argv], fuzzer.one)
    atheris.Fuzz()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--so", help="load agent.dns._fastpath from this file (e.g. an ASan build)")
    parser.add_argument("--iterations", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--atheris", action="store_true", help="coverage-guided, with atheris")
    parser.add_argument("libfuzzer_args", nargs="*", help="after --: passed to libFuzzer")
    args = parser.parse_args()
    fuzzer = Fuzzer(load(args.so))
    print(f"fuzzing {fuzzer.fp.__file__}", flush=True)
    if args.atheris:
        run_atheris(fuzzer, args.libfuzzer_args)
    else:
        run_random(fuzzer, args.iterations, args.seed)
        print("done: no difference, no crash")


if __name__ == "__main__":
    main()
