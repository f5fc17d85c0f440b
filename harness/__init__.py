"""Acceptance harness for the observability lab, in floors (lowest first; none imports a higher one):
base, clients, lab, faults, drive, checks, bdd, report, and the ``lab`` command (:mod:`harness.cli`)
on top. This module imports none of them."""

__version__ = "0.1.0"
