"""tilelang: a Python-embedded tile language and compiler for GPU kernels."""
