"""The composition root: the processes of a HouseRules box, put together from `agent` (the
DNS, the rules, the store, the jobs) and `dashboard` (the parents' pages).

- `houserules.cli`: the `houserules` command (`agent.cli` plus the commands that serve pages);
- `houserules.jobs`: the jobs process that `houserules run` starts beside the DNS: every job
  of `agent.ops.jobs` and the dashboard, on one scheduler;
- `houserules.dashboard`: `houserules dashboard`, the pages on their own.

Nothing under `agent/` imports `dashboard/` or this package (a test holds that).
"""
