"""The household's own rules, above the store: what a child may ask and what approving it does
(`requests`), schedules lifted for "more time" and put back (`lifts`), and the checks a name,
domain or address must pass before it is stored (`checks`). The store only stores."""
