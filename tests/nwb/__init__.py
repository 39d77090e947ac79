"""Conversion from templates."""
