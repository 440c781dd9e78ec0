"""Kernel knowledge as data: default.yaml and the files users merge over it."""
