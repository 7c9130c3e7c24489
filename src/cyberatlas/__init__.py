"""cyberatlas: an open platform for mapping and disrupting cybercrime together."""

__version__ = "0.1.0"
