"""Floor 4 — everything that breaks a lab on purpose. The fault catalogue: named, documented mistakes
at every hop of the lab, each with the scenarios that must catch it (:mod:`harness.faults.catalogue`),
the edits that make them (:mod:`~harness.faults.edits`), every runtime fault in one vocabulary —
restart, stop, end the main process, recreate, replace, partition, delay, burst, fill disk, each
usable as a step, during traffic and as a catalogue entry (:mod:`~harness.faults.runtime`, over the
network mechanics of :mod:`~harness.faults.network`), the throwaway copy of the lab's files they
are applied to (:mod:`~harness.faults.workspace`). ``lab sensitivity``
(:mod:`harness.faults.sensitivity`) runs the suite against each; the pytest plugin that applies a
runtime fault and selects the scenarios is bdd glue (:mod:`harness.bdd.faults_plugin`)."""

from harness.faults.catalogue import BY_NAME, FAULTS
from harness.faults.edits import StaleEdit
from harness.faults.model import HOPS, SIGNALS, Action, Fault

__all__ = ["BY_NAME", "FAULTS", "HOPS", "SIGNALS", "Action", "Fault", "StaleEdit"]
