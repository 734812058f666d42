"""The editable policy: its schema, its checks and the lock-out guard, its use cases and endpoints."""
