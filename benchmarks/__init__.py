"""Side-by-side benchmarks of durable_gen and AWS's Python durable-execution SDK.

Run them with ``python -m benchmarks`` (see README.md in this folder).
"""
