"""Emulation of the AMD-only thread-IR ops: MFMA."""
