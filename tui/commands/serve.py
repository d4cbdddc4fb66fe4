"""``milvus-tui serve``: the same app in a web browser, through textual-serve.

textual-serve runs a web server whose page holds a terminal (xterm.js); every browser tab that
opens it gets its own app process, whose screen and keys travel over a websocket. What is ours:

- **One Milvus Lite for every tab.** On the embedded default each app process would start its
  own Lite child on the same data directory, and the second tab would fail with "in use". So
  this command starts the Lite child once (as every command does), loads the collections the
  app would load again (``tui/loads.py``), and points each tab's app at that running server.
- **No secret on a command line.** textual-serve runs one shell command per tab, which ``ps``
  shows to every user of the machine and which it prints. Our command carries only the
  Python interpreter and non-secret names (profile, collection); the URI, token, API key and the
  rest of the settings reach the app through its environment, readable only by its owner.
- **Loopback by default.** Anyone who can open the page can browse, search and delete as the
  user, and there is no login: a host other than loopback needs ``--allow-remote``.
- **Stops clean.** ctrl+c (or SIGTERM) asks every tab's app to quit, waits for it (killing one
  that hangs), then stops the Lite child: no app process or Lite server is left. A server
  killed outright takes its tabs' apps along too (``tui/web_tab.py``) and its Lite child (its
  lifeline, ``tui/milvus/lite.py``).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from ..cli import _fail, _remembered_loads, _service, _settings, main

#: How long a tab's app gets to quit when the server stops, before it is killed.
QUIT_GRACE = 10.0


def is_loopback(host: str) -> bool:
    """True for a host only this machine can reach: 127.0.0.0/8, ::1 or localhost."""
    import ipaddress

    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def page_url(host: str, port: int) -> str:
    host = host.strip("[]")
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def child_environment(settings: Any, uri: str) -> dict[str, str]:
    """The settings an app process needs, as the environment variables it reads
    (``tui/config.py`` ``ENV``): flags given to ``serve`` win over the variables, as they would
    for the app itself. Only what is set is passed."""
    from ..config import ENV

    values = {"uri": uri, "token": settings.token, "db_name": settings.db_name, "api_key": settings.api_key,
              "base_url": settings.base_url, "embedding_model": settings.embedding_model,
              "embedding_provider": settings.embedding_provider,
              "embedding_dimensions": settings.embedding_dimensions}
    return {ENV[key]: str(value) for key, value in values.items() if value is not None}


def child_argv(settings: Any) -> list[str]:
    """The app process's command line: the interpreter and names, never a secret."""
    argv = [sys.executable, "-P", "-m", "tui.web_tab"]  # the app, stopping when the server dies; -P: never a tui/ of the cwd
    if settings.profile:  # the profile's timeout and check_ctx_length, which have no variable
        argv += ["--profile", settings.profile]
    if settings.collection:
        argv += ["--collection", settings.collection]
    return argv


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback needs --allow-remote.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--allow-remote", is_flag=True,
              help="Listen on a host other than loopback: anyone who reaches it gets your database, with no login.")
@click.option("--public-url", help="The address browsers use to reach this server (behind a proxy, or "
              "when --host is 0.0.0.0); default http://HOST:PORT.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line with the address once it is serving.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, allow_remote: bool, public_url: str | None,
          as_json: bool) -> None:
    """Serve the app to a web browser (textual-serve), on 127.0.0.1:8000 by default.

    Each browser tab gets its own app on the same connection (connection options and
    environment as for the app). Anyone who can open the page can browse, search and delete
    in your database as you: there is no login. ctrl+c stops it.
    """
    import json

    loopback = is_loopback(host)
    if not loopback and not allow_remote:
        _fail(f"'{host}' is not a loopback address: anyone who can reach it would get your database, with "
              "no login. Pass --allow-remote if that is what you want (and see the README's \"In a browser\").", 2)
    if host in ("0.0.0.0", "::", "[::]") and not public_url:
        _fail(f"With --host {host} the page cannot tell browsers where to connect: pass --public-url "
              "http://NAME:PORT, the address they use.", 2)
    url = public_url.rstrip("/") if public_url else page_url(host, port)
    settings = _settings(ctx)
    with _service(settings) as svc:  # the connection checked (and the Lite child started) before serving
        from ..errors import display_uri

        loads = _remembered_loads(svc)
        if loads is not None:
            # Lite came up with everything released; the app loads again what the user loaded
            # before, but it will talk to this server by URL, so do it here, once.
            remembered = loads.names()
            for info in svc.run(svc.describe_all(exact=False)):
                if info.name in remembered and not info.loaded:
                    click.echo(f"Loading '{info.name}' …", err=True)
                    svc.run(svc.load(info.name))
        endpoint = svc.conn.endpoint
        where = f"{display_uri(settings.uri)} (database {settings.db_name})"

        def ready() -> None:  # listening: only now is there something to warn about
            who = ("anyone who can reach this machine on that port" if not loopback
                   else "every user and program on this machine")
            warning = (f"Warning: this serves {where} to {who}, with no login: they can browse, "
                       "search, change and delete your data as you. Stop it with ctrl+c.")
            if loopback:
                click.secho(warning, fg="yellow", err=True)
            else:
                click.secho("!" * 72, fg="red", bold=True, err=True)
                click.secho(warning + f" It listens on {host}, not on loopback.", fg="red", bold=True, err=True)
                click.secho("!" * 72, fg="red", bold=True, err=True)
            if as_json:
                click.echo(json.dumps({"url": url, "host": host, "port": port, "serving": display_uri(settings.uri),
                                       "db_name": settings.db_name}), nl=True)
            else:
                click.echo(f"Open {url} in a browser (ctrl+c stops the server).")
            sys.stdout.flush()

        from ..web import run_server

        error = run_server(child_argv(settings), child_environment(settings, endpoint), host=host, port=port,
                           public_url=url, on_ready=ready, quit_grace=QUIT_GRACE)
        if error:
            _fail(error, 2)
        click.echo("Stopped: every browser session closed.", err=True)
