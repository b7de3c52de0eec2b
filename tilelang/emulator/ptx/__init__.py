"""The PTX interpreter: the PTX text the NVIDIA code generator emitted, parsed and run
warp-exactly on numpy (``parser`` -> ``executor`` with ``alu``, ``memory``, ``warp``,
``hopper``; ``launch`` runs a grid from driver-style packed parameters). It imports
nothing of the compiler: it follows the PTX ISA, not the compiler's intent."""
