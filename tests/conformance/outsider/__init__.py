"""Conformance handlers written from durable_gen's documentation alone.

Each handler in ``handlers.py`` implements one of AWS's conformance requirements as a user who
read only README.md and docs/*.md would, without looking at ``../handlers/`` (ours, written
knowing the internals); ``second.py`` holds a later set, for the requirements ``handlers.py``
left out, written the same way without reading either. ``test_outsider.py`` runs them through
the same runner and checks, so that a docs example or a documented behaviour that stops
working is caught.
"""
