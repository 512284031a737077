"""Well-known STUN and TURN hosts: a lookup of one of these is a browser or app setting up a
WebRTC call (video or voice), usually on a website that has no entry in the app catalogue.

Facts, with where they come from:
- stun.l.google.com and stun1..stun4.l.google.com: Google's public STUN servers, the default in
  WebRTC samples and many SDKs (e.g. Vonage's client SDK documents stun:stun.l.google.com:19302).
- global.stun.twilio.com, global.turn.twilio.com: Twilio Network Traversal Service
  (twilio.com/docs/stun-turn).
- stun.cloudflare.com, turn.cloudflare.com: Cloudflare Realtime TURN
  (developers.cloudflare.com/realtime/turn/).
- stun.services.mozilla.com: Mozilla's public STUN server.
- stun.nextcloud.com: Nextcloud Talk's default STUN server.
- openrelay.metered.ca, relay.metered.ca: Metered's Open Relay Project.
- stun.telnyx.com, turn.telnyx.com: Telnyx (developers.telnyx.com, STUN/TURN servers).
A name below one of these counts too. Apps with their own call servers are matched through
the catalogue instead (Discord's voice servers are under discord.media, a Discord domain).
"""

from __future__ import annotations

from agent.rules.household import match_suffix

STUN_TURN_HOSTS: frozenset[str] = frozenset(
    {
        "stun.l.google.com",
        "stun1.l.google.com",
        "stun2.l.google.com",
        "stun3.l.google.com",
        "stun4.l.google.com",
        "global.stun.twilio.com",
        "global.turn.twilio.com",
        "stun.cloudflare.com",
        "turn.cloudflare.com",
        "stun.services.mozilla.com",
        "stun.nextcloud.com",
        "openrelay.metered.ca",
        "relay.metered.ca",
        "stun.telnyx.com",
        "turn.telnyx.com",
    }
)
# Call (media) servers of catalogue apps: a lookup means a call, not just the app being open.
CALL_HOSTS: dict[str, str] = {"discord.media": "discord"}
_CALL_SUFFIXES = frozenset(CALL_HOSTS)


def is_stun_turn(name: str) -> bool:
    return match_suffix(name, STUN_TURN_HOSTS) is not None


def call_app(name: str) -> str | None:
    """The app whose call servers `name` belongs to, if any."""
    found = match_suffix(name, _CALL_SUFFIXES)
    return CALL_HOSTS[found] if found is not None else None
