"""Console themes shipped with slowroll (TOML files, read with importlib.resources)."""
