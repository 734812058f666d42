"""The operator console: server-rendered pages over the same services, policy and audit as the API."""
