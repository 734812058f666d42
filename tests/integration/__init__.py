"""Integration tests: the app on a real store (SQLite and PostgreSQL), through HTTP and the CLI."""
