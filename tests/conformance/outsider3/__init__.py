"""A third set of conformance handlers, written from durable_gen's documentation alone.

``handlers.py`` implements every requirement as a user who read only README.md and docs/*.md
(docs/conformance.md, guide.md, lambda.md, api.md above all) would, without looking at
``../handlers/`` or ``../outsider/``; its style differs on purpose (``CreateCallback`` handles,
``dg.Step(fn, args)``, a custom ``WaitDecision`` strategy, typed ``yield from``).
``variants.py`` writes the subtle requirements (callbacks, retries, wait-for-condition,
completion policies, serdes, plugins) a second way the docs allow. ``test_outsider3.py`` runs
both through the same runner and checks, in each checkpointing mode, since the docs promise
the same history in every mode.
"""
