"""The remote commands: a thin client of the HTTP API that shares nothing with the server (ADR 0028)."""
