"""Sub-command groups of the ``fedi`` CLI beyond the core ones in ``cli``.

Each module defines ``add_parsers(sub)`` (argparse subparsers) and a ``COMMANDS`` dict from the
command name (``"followers approve"`` for nested actions, as ``cli.main`` dispatches) to a function
``(args) -> int``. ``cli`` imports the modules listed in ``MODULES``.
"""

MODULES = ("followers", "publishing", "replies", "migrate")
