"""Geo dispatch: coordinates, distance, candidate search, scoring and routing (DESIGN.md §6)."""
