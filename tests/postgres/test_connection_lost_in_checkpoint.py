"""A connection lost in the middle of a checkpoint's transaction: the worker tries the
checkpoint again on a new connection, so the outcome of the step that ran is kept.

The server itself cuts the connection: a trigger ends its own backend
(``pg_terminate_backend``) while the checkpoint writes the step's success, once (a sequence
counts, since it is not rolled back with the transaction).
"""

from __future__ import annotations

import durable_gen as dg
from durable_gen.local import Worker

RAN: list[int] = []

_CUT = """
CREATE SEQUENCE cuts;
CREATE FUNCTION cut_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.type = 'STEP' AND NEW.status = 'SUCCEEDED' AND nextval('cuts') = 1 THEN
        PERFORM pg_terminate_backend(pg_backend_pid());
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER cut BEFORE INSERT OR UPDATE ON operations
    FOR EACH ROW EXECUTE FUNCTION cut_once();
"""


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def pay(amount: int) -> str:
    RAN.append(amount)
    return f"paid {amount}"


@dg.workflow
def order(amount: int):
    return (yield pay(amount))


def test_a_checkpoint_cut_off_is_tried_again_and_the_step_kept(postgres_url: str) -> None:
    import psycopg

    RAN.clear()
    lines: list[str] = []
    with Worker(postgres_url, log=lines.append) as worker:  # the tables exist from here on
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(_CUT)
        arn = worker.service.start(worker.register(order), "7")
        record = worker.drive(arn)
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            row = admin.execute("SELECT last_value FROM cuts").fetchone()
    assert row is not None and row[0] >= 1  # the connection was cut
    assert any("retrying the checkpoint" in line for line in lines), lines
    assert record.status == "SUCCEEDED", (record.error, lines)
    assert record.result == '"paid 7"'
    assert RAN == [7]
