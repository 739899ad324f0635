"""Session recordings: the file format, its writer and its (untrusting) reader."""
