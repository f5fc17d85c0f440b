"""Benchmarks of the lab (never part of the test run): `tox -e bench`, or `python -m bench --help`."""
