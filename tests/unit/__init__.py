"""Unit tests: pure code only, mirroring src/trainer_ops; fakes, no I/O."""
