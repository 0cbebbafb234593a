"""Session-wide test plugins: a real Postgres server for the tests that need one."""

pytest_plugins = ["tests.postgres.fixtures"]
