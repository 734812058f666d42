"""Unit tests of trainer_ops.audit."""
