"""Step definitions: one module per domain; each step is a sentence mapped to a harness call or two.

How steps are written here:

- A sentence with parameters is ``harness.bdd.scenario.sentence("...")``: parse's syntax plus
  ``{x:List}`` (``"a"``, ``"a" and "b"``, ``"a", "b" and "c"`` …) and ``{x:Duration}``
  (``1 second``, ``2.5 seconds``). A sentence that lists things takes a list, never a fixed count.
- A value a later step needs is returned under a name (``target_fixture="trace_id"``) and the later
  step asks for that fixture by name; there is no shared context object.
- A baseline is a whole snapshot (every endpoint's histogram, every SLI); the Then step reads its
  own endpoint and threshold from its own sentence, so editing that sentence cannot leave a stale
  baseline. A step does only what its sentence says (a redeploy records its own before and after).
- The logic lives in ``harness/`` (``harness/checks/<subject>``, ``traffic``, …), where it is unit-tested;
  every wait goes through ``harness.checks.expectation.expect_within`` (the hop line, the evidence).
- ``tests/harness/test_steps_coverage.py`` fails when a step of ``features/`` has no definition or
  several, when a definition is unused, or when a step needs a value no earlier step provides.
  A new module here is also listed in conftest.py's ``pytest_plugins``.
"""
