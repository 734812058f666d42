"""The `trainer-ops` command line: the second composition root."""
