"""Unit tests of trainer_ops.features."""
