"""A release workspace: its settings, its files, their digests, its state."""

CONFIG_NAME = "publishkit.yaml"  # the workspace's settings file (read by workspace.config)
