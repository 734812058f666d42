"""Change requests and scheduled changes (ADR 0026): governed writes that wait for approvals or a time."""
