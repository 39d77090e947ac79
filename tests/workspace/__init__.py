"""Settings, inventory, digests, executors, state."""
