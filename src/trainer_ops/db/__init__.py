"""Database: engine, sessions, declarative base and the Alembic migrations."""
