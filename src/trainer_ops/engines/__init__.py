"""Engines: the eight AI engines the ops layer controls, and the state of each live instance."""
