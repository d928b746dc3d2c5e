"""Database gates: queries per request (Server-Timing, probe) and the PostgreSQL collector."""
