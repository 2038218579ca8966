"""Benchmarks: genqc side by side with the peer a user would pick instead, in one run."""
