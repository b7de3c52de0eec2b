"""Emulation of the NVIDIA-only thread-IR ops: wgmma, TMA boxes and mbarriers."""
