"""One subpackage per paper: its remaining kernels and thin registered solver classes."""
