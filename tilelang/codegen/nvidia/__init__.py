"""NVIDIA code generation: thread IR -> LLVM IR (llvmlite) -> PTX, ptxas, SASS checks, AOT artifacts."""
