"""Benchmarks behind ``gridtwin bench …``: figures and ratios, printed and as JSON.

Speed targets live here, never in timed unit tests.
"""
