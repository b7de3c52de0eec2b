"""AMD-only lowering: MFMA."""
