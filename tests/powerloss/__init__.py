"""The power-loss test's write recorder (recorder.c, LD_PRELOAD) and replayer."""
