"""A small Django game project for ``reqtrail_userdata``: players own units, items, battles."""
