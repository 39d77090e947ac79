"""Whole-system scenarios: crashes, faults, secrets, memory, the quick start."""
