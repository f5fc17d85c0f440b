"""The pipeline canary (issue 27, ADR 0020): one probe every interval — a span, a log record with the
same trace id and sequence number, a counter increment with the trace id as exemplar — sent the way
the app sends, read back from the trace store, the log store and Prometheus, and counted on
``/metrics`` as sent, found, lost and late per signal and store, with the delivery delay.

Modules: :mod:`.settings` (the environment), :mod:`.metrics` (the contract's metric names),
:mod:`.tracker` (which probe is pending, found, lost or late: no I/O), :mod:`.emit` (the probe),
:mod:`.readback` (the stores, through the harness's clients), :mod:`.__main__` (the loops)."""

SERVICE_NAME = "pipeline-canary"
