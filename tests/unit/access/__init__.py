"""Unit tests of trainer_ops.access."""
