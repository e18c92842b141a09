"""`gitml init`: profile a user's table (profile.py) and write a reviewed params.yaml and schema
draft for it (init.py)."""
