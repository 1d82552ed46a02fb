"""The pure science core: association, cross-match, flags and ranking (numpy/astropy, no I/O)."""
