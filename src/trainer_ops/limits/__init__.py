"""Rate limits and safety (spec section 6): AI calls per minute, upload size, concurrent sessions."""
