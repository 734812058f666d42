"""Versioned documents (model config, features, limits, policy): immutable versions and the live snapshot."""
