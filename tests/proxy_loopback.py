"""A TEST-ONLY mitmproxy addon: every upstream connection goes to local servers on 127.0.0.1.

The end-to-end test asks the proxy for made-up names (blocked.test, friends.roblox.com); curl
sends them to the proxy as they are, and mitmproxy would look them up in DNS. This addon runs
after HouseRules' own (`-s` order) and, in the `server_connect` hook, points the connection at
the local plain-HTTP server (port 80) or TLS server (port 443) from the environment, while the
request keeps its host name, its Host header and its TLS server name. Nothing else changes, so
the HouseRules addon sees exactly what it would see on a real network.
"""

from __future__ import annotations

import os

from mitmproxy.proxy import server_hooks


def _where(name: str) -> tuple[str, int]:
    host, _, port = os.environ[name].rpartition(":")
    return host, int(port)


class Loopback:
    def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        port = data.server.address[1] if data.server.address else 80
        data.server.address = _where(
            "HOUSERULES_TEST_TLS" if port == 443 else "HOUSERULES_TEST_HTTP"
        )


addons = [Loopback()]
