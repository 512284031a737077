"""Serving DNS: the front ends, the wire format, the cache, the upstream pool, the neighbour table
and the optional compiled fast path. A query is *decided* in `agent.rules`; this package only
carries it there and back."""
