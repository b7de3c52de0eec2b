"""Bridges to other frameworks, above the runtime and the autotuner: ``torch_op``
registers a kernel as a ``torch.library`` custom op. The framework itself is
imported only when one of these is used, so ``import tilelang`` never imports torch."""

from tilelang.integrations.torch_op import TorchOp, torch_op

__all__ = ["TorchOp", "torch_op"]
