"""What virtual users send: seeded generators, templates, JSON paths, arrival schedules (pure)."""
