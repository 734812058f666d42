"""Audit log: every change and denial, appended in the same transaction, hash-chained."""
