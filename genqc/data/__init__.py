"""Image tables and the sources they are built from."""
