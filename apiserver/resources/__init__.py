"""One module per kind: its ResourceInfo (what discovery, OpenAPI and tables need) and
its strategy (how its objects map onto the Git store)."""
