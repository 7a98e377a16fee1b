"""Blastwall: find the credentials that can destroy your data, back it up outside their blast radius, prove the restore."""

__version__ = "0.1.0"
