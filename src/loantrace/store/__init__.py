"""Persistence adapters (sqlmodel; SQLite by default, PostgreSQL by URL)."""
