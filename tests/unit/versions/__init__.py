"""Unit tests of trainer_ops.versions."""
