"""The reproduce job: pyiqa's published benchmark tables, their protocols, and our run compared with them.
Exports nothing at package level."""
