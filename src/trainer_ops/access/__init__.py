"""Access: principals, API tokens and JWTs, and the scope policy (spec section 8) enforced in one place."""
