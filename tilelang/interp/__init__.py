"""The reference interpreter: the tile IR executed with numpy, one program instance at a time."""
