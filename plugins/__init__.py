"""Built-in edits, each a plugin written against the public plugin API (explorer.plugins).

They register through the `latent_explorer.plugins` entry points in pyproject.toml, exactly as a
third-party package would; nothing in explorer/ imports this package.
"""
