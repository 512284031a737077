"""The optional mitmproxy addon: the same house rules at URL level, and new contacts.

Only for devices a parent marked "inspect" and whose owner trusts the box's certificate
(docs/proxy.md). Nothing here imports mitmproxy except `addon`, so the dashboard can use the
rest (contacts, onboarding) without it.

  addon.py          the mitmproxy addon: thin hooks that ask agent.rules.decide.decide and act
  runtime.py        what the hooks work with, built once from the config
  policykeeper.py   the Policy kept fresh on a background thread (household, neighbours, lists)
  clients.py        who is asking: device, child, "inspect"
  blockpage.py      the page a child sees instead of a blocked site
  paths.py          path rules: a part of an allowed app (YouTube Shorts)
  safesearch.py     safe-search switches at the request (Google, Bing, DuckDuckGo, YouTube)
  searches.py       search terms from results pages
  concerns.py       worrying searches, and the help an alert carries
  contacts/         one extractor per service (roblox, discord); reader: bounded reading of
                    responses; news: new-contact events
  recorder.py       events and contacts, written by a background thread from a bounded queue
  activity.py       request rows for the query log (through the same writer process)
  onboarding.py     the PAC file, the certificate files, the WireGuard settings (dashboard)
"""
