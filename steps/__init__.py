"""Step definitions: one module per domain; each step is a sentence mapped to a harness call or two."""
