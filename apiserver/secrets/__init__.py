"""Secrets: sealing plain Secrets like kubeseal, and checking the references kept in Git."""
