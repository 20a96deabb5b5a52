"""The ``reqtrail`` command's entry point.

The commands need typer, which comes with every extra (``reqtrail[cli]`` alone for a game
server that only wants ``reqtrail resend-spill``); ``--version`` works without it. Errors
that a user can fix (a bad setting, a missing extra) end the command with one line and exit 2.
"""

from __future__ import annotations

import sys

from reqtrail import __version__
from reqtrail.extras import MissingExtraError, missing_extra
from reqtrail.settings import SettingsError


def _fail(message: str) -> None:
    print(f"reqtrail: {message}", file=sys.stderr)
    raise SystemExit(2)


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        print(f"reqtrail {__version__}")
        return
    try:
        try:
            from reqtrail.commands import app, register_all

            register_all()
            app()
        except ModuleNotFoundError as exc:
            error = missing_extra(exc)
            if error is None:
                raise
            raise error from None
    except (SettingsError, MissingExtraError) as exc:
        _fail(str(exc))


if __name__ == "__main__":
    main()
