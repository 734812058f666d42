"""Unit tests of trainer_ops.modelconfig."""
