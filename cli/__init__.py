"""The nbnet command line (installed as nbnet.cli)."""
