"""Events: what happened, as data shared by insights, the proxy, the store, prompts, the
dashboard and the digest. Below all of them: nothing here imports the store or the proxy.

  model.py      Event, Severity
  registry.py   EventKind, and everything about each kind, declared once: label, words,
                digest section, help guide, usual severity, detail fields as a typed record
  words.py      the words for each kind (named by the registry)
  contacts.py   Contact, ContactKind (read by the proxy, kept by the store)
  searches.py   Search (read by the proxy, carried by worrying-search events)
"""

from agent.events.model import Event, Severity
from agent.events.registry import EventKind

__all__ = ["Event", "EventKind", "Severity"]
