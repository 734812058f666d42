"""Sync: the snapshot engines start from, the change stream that keeps them current, remote instances."""
