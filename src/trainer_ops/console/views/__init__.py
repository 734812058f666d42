"""The console's pages, one module each; every module here with a `router` is included by
console/routes.py (so adding a page touches no shared file but nav.py and the catalogues)."""
