"""reqtrail: every game-server request, searchable by player in seconds."""

__version__ = "0.1.0"
