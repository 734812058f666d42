"""Unit tests of trainer_ops.cli: the parts that need no store."""
