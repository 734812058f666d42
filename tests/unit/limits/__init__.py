"""Unit tests of trainer_ops.limits."""
