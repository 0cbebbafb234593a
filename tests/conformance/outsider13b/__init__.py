"""Conformance handlers written from durable_gen's documentation alone, in forms the other sets
do not use.

``handlers.py`` writes 38 requirements with the ``Completion`` presets, ``Branch`` objects,
callable objects whose ``__call__`` is a generator, ``functools.partial`` of a workflow, wait
strategies returning ``WaitDecision``, ``@dg.step`` and callable-object submitters, callbacks
read into declared types (``result_type=``), a plugin written from observability.md with
``async def`` steps, ``StepFailedError`` subclasses and bound methods as steps, options given
to ``Step`` over a ``@dg.step``'s, whole-batch serdes whose ``deserialize`` returns a plain list,
and children whose body is a plain function. ``test_outsider_round13b.py`` runs them through
the same runner and checks as ours, in each checkpointing mode, on SQLite with state in pages
of one operation, and through ``durable_gen.aws.lambda_handler`` in both payload formats.
"""
