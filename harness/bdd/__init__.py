"""Floor 7 — the pytest-bdd glue: the run plugin, tags and skip reasons, sentence types, step
coverage, shards, a scenario's identity and the one reader of pytest-bdd's internals."""
