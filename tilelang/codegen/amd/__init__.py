"""AMD code generation: thread IR -> HIP C++, hipcc, AOT artifacts."""
