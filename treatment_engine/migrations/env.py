"""Alembic's environment: always run on the connection :func:`store.upgrade` passes in."""

from alembic import context

connection = context.config.attributes["connection"]
# Batch mode: SQLite cannot ALTER most things in place; alembic copies the table instead.
context.configure(connection=connection, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
