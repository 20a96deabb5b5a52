"""``python -m reqtrail``: the ``reqtrail`` command."""

from reqtrail.cli import main

main()
