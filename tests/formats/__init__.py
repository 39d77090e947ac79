"""Manifests, notes, versions and schemas."""
