"""Blocklists: parsing list files, fetching sources, compiling them into the mapped index, and the
claim sets that say which list or app holds a name."""
