"""Reusable analyses over the program model (event ordering, value origins)."""
