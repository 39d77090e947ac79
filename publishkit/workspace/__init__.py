"""A release workspace: its settings, its files, their digests, its state."""
