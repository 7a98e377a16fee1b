"""Off-platform backups and restore verification (placeholder, filled below)."""
