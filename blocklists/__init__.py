"""The data HouseRules ships: lists, the app catalogue, safe-search and path facts.

This folder is installed as the package `agent.blocklists` (see `setup.py`), so the files are
found with `importlib.resources` wherever HouseRules is installed."""
