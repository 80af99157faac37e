"""Benchmarks: a corpus generator and a runner comparing this engine with its alternatives."""
