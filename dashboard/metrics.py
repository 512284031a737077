"""`/metrics`: the box in Prometheus' text format, for Grafana and friends.

The DNS counters come from the file the DNS process rewrites every two seconds
(`agent.ops.stats`), so a scrape never reaches into the DNS process and the DNS never waits
for a scrape. List sizes and ages come from the compiled index and the list files. Each scrape
builds the numbers afresh (a collector over one snapshot); nothing is kept between scrapes.

Who may scrape: an address in the DNS's `allow_networks` (the home network), or anyone with an
API token from Settings (`Authorization: Bearer ...`), throttled like the API when wrong.
"""

from __future__ import annotations

import ipaddress
import time

from flask import Blueprint, Flask, Response

from agent.config import Config
from dashboard import api, auth
from dashboard.api.errors import ApiError, error_response
from dashboard.box import box

bp = Blueprint("metrics", __name__)


def from_home_network(cfg: Config, address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address((address or "").split("%")[0])
    except ValueError:
        return False
    return any(ip in net for net in cfg.dns.allow_networks)


@bp.route("/metrics")
def metrics() -> Response:
    b = box()
    client = auth.client_address()
    if not from_home_network(b.cfg, client) or api.bearer() is not None:
        try:
            api.check_bearer((client,))
        except ApiError as exc:
            return error_response(exc.status, exc.message, exc.headers)
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    from dashboard.metric_families import BoxCollector  # prometheus_client: on the first scrape

    registry = CollectorRegistry(auto_describe=False)
    registry.register(BoxCollector(b.cfg, time.time()))
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def register(app: Flask) -> None:
    from dashboard import csrf

    csrf.exempt(bp)
    app.register_blueprint(bp)
