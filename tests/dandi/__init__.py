"""Organize, DANDI access and upload."""
