"""Oversight: reports, scoping, reviews, and the public transparency pages."""
