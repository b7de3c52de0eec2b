"""The thread-level emulator: the thread IR executed with numpy, all lanes of a block in lockstep."""
