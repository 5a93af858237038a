"""Benchmarks, run together by `python -m bench`, each printing figures beside a reference."""
