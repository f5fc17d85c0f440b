"""Floor 3 — bringing a lab up and reaching into it: engines, runners, ssh, compose, the deploy plan,
images, shipping, targets, the VM, the lab and its lifecycle (:mod:`harness.lab.lifecycle.lifecycle`) and
diagnostics."""
