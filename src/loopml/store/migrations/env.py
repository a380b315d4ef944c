"""Alembic environment: migrations always run on a connection loopml hands in (see ``_migrate``)."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, render_as_batch=True, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
