"""The SQLite backend: one WAL file in data_dir, its calls run off the event loop."""
