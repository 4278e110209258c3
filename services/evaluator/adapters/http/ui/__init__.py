"""The coordinator app under ``/ui/``: server-rendered pages, a little progressive JavaScript."""
