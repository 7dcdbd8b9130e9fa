"""The roster schema (roster.json) as package data: read it with importlib.resources.files("schemas")."""
