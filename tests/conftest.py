"""Puts tests/ on sys.path (pytest does so for a rootdir conftest) so tests share `synthetic_motion`."""
