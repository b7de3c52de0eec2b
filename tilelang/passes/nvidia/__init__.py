"""NVIDIA-only lowering: mma.sync, wgmma, TMA pipelines, warp specialization."""
