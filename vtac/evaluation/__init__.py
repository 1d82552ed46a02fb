"""Fitting and judging the afterglow model on truth the pipeline did not produce (tools and bench only)."""
