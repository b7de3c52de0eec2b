"""GPU-common passes and the lowering machinery both vendors build on."""
