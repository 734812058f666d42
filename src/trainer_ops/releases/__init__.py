"""Releases (spec section 4): immutable, semver-ordered snapshots of engines and config, and rollback."""
