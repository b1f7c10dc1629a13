"""Benchmarks of the service, run as ``python -m bench.run`` (bench/README.md)."""
