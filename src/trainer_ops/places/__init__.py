"""The places catalogue (regions, countries, branches): a versioned document, served and changed here.

The index every entry point checks codes against lives in `access.places` (below the HTTP edge)."""
