"""Subcommands of ``milvus-tui`` that grew past a few lines, one module per topic.

``tui/cli.py`` keeps the group, the shared options and helpers (``_connection_options``,
``_settings``, ``_service``, ``_print_rows``, ``_fail``) and the original commands. A module
here defines its commands with ``@main.command()`` (importing ``main`` and the helpers from
``tui.cli``) and is registered by one import line at the end of ``tui/cli.py``. Like
``tui/cli.py``, a module here imports only click at module level, so ``--help`` stays fast.
"""
