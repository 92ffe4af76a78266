"""Use cases orchestrating domain, chain and store."""
