"""Health and diagnostics (spec section 5) from real measurements, plus /livez, /readyz, /metrics."""
