"""The keys every replica shares: where they come from, their fingerprints in the store, rotation."""
