"""HTTP API (FastAPI). The only place that knows HTTP status codes."""
