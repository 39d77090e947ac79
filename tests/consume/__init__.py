"""verify, fetch, export."""
