"""The config: the model (settings) and its sections (routes, surfaces), read from a file and the
environment (load, environ)."""
