"""Adapters around the core: readers and writers of files, catalogue providers."""
