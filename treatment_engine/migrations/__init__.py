"""Alembic migrations for the decision log (run by :func:`treatment_engine.store.upgrade`)."""
