"""trainer-ops: the System Operations layer of Retail AI Trainer."""
