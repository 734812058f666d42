"""The HTTP edge kit shared by routers: problems, auth, the policy guard, bodies, ETags, middleware."""
