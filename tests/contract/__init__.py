"""Contract tests: the spec's examples, the scope matrix and the OpenAPI document, through the app."""
