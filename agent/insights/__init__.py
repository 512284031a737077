"""Insights: events and activity summaries drawn from the query log, off the query path.

`InsightsJob` (in `job`) reads new query-log rows on a schedule, runs the detectors
(`detect`, `sessions`), applies the active-minute estimate (`activity`) and keeps the rollups in
`agent.store` current. Summaries and events are read through `agent.store.rollups` and
`agent.store.events`.
"""
