"""Thin entry points: the command line, the demo."""
