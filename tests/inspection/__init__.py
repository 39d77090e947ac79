"""The inspect stage."""
