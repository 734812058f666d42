"""Unit tests of trainer_ops.infra."""
