"""Operator tasks that move a whole installation: backups, restores and the move from SQLite to PostgreSQL
(`hudhud admin backup|restore-backup|migrate-sqlite-to-postgres`, docs/deploy.md)."""

from __future__ import annotations


class OpsError(Exception):
    """The task cannot go on. The message says why and, where it can, what to do; the command exits with 1."""
