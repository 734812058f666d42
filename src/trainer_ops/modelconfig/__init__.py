"""Model configuration (spec section 1): model, temperature, maxTokens, tone, language, enabled."""
