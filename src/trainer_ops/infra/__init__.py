"""Outside world behind small Protocols, each with a real and an in-memory twin."""
