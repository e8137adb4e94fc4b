"""The rule book: the registry of every rule (registry.py) and the declarations of the rules a stage raises
itself (pipeline.py, export.py, saved_adapter.py).

A leaf room: it imports no stage, so pipeline/, io/ and export/ raise their findings through these objects
while rules/ (the checks, which read those stages' values) sits above them; imports point one way.
"""
