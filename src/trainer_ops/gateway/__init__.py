"""The AI gateway: an OpenAI-compatible endpoint that makes every AI call obey the ops settings."""
