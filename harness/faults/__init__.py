"""The fault catalogue: named, documented mistakes at every hop of the lab, each with the scenarios
that must catch it (:mod:`harness.faults.catalogue`), the edits and actions that make them
(:mod:`~harness.faults.edits`, :mod:`~harness.faults.actions`), the throwaway copy of the lab's
files they are applied to (:mod:`~harness.faults.workspace`) and the pytest plugin that applies a
runtime fault and selects the scenarios (:mod:`~harness.faults.plugin`). ``lab sensitivity``
(:mod:`harness.sensitivity`) runs the suite against each."""

from harness.faults.catalogue import BY_NAME, FAULTS
from harness.faults.edits import StaleEdit
from harness.faults.model import HOPS, SIGNALS, Action, Fault

__all__ = ["BY_NAME", "FAULTS", "HOPS", "SIGNALS", "Action", "Fault", "StaleEdit"]
