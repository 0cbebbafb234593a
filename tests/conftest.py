"""Session-wide test plugins: a real Postgres server for the tests that need one.

The suite's Ctrl-C trials send SIGINT to the commands they start. A shell starts a background
job with SIGINT ignored, and an ignored signal stays ignored in every process started from it,
so such commands would never see theirs: the suite puts SIGINT back as at a terminal.
"""

import signal

if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

pytest_plugins = ["tests.postgres.fixtures"]
