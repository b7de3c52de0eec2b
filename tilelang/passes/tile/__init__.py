"""Target-independent passes: tile-IR rewrites (and the cleanups that also run on thread IR)."""
