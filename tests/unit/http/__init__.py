"""Unit tests of trainer_ops.http."""
