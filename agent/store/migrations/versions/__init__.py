"""One file per schema revision, oldest first: 0001_baseline, 0002_..., made by
`python -m agent.store.migrate revision "what changed"`."""
