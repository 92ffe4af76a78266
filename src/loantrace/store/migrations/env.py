"""Alembic environment: migrate the connection handed over by `loantrace.store.db`."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import loantrace.store.models
import loantrace.store.personal  # noqa: F401 - registers the borrowers table

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
