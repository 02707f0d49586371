"""The `launcher` command: `open -- URL` and `native-host` on every click (kept fast), and the rest.

`launcher native-host SCHEME` is the browser extension's way in (see `launcher.nativehost`).
`launcher open` exits 0 when the client took the join, 2 when the URL is refused, 3 when no client
could be reached or started, and 1 on a local problem (a broken config); it always prints exactly
one line on stderr when it fails, with any token redacted. Only `open` and `native-host` are on the
critical path, so `argparse` and the platform modules are imported only by the other commands.
"""

from __future__ import annotations

import sys

from launcher.errors import ConfigError, LauncherError, PlatformError, URLRefused

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_REFUSED = 2
EXIT_NO_CLIENT = 3
USAGE = (
    "usage: launcher install SCHEME --lobby URL [--lobby URL ...] [--extension-id ID ...] -- CLIENT_COMMAND\n"
    "       launcher uninstall SCHEME\n"
    "       launcher status [SCHEME]\n"
    "       launcher open -- URL\n"
    "       launcher native-host SCHEME [BROWSER_ARG ...]\n"
    "       launcher extension SCHEME --out DIR [--key PEM] [--lobby URL ...]\n"
    "       launcher bundle windows --embed EMBEDDABLE_CPYTHON --out DIR | bundle linux --out FILE.pyz\n"
)


def main(argv: list[str] | None = None) -> int:
    """Run the launcher command line and return its exit code."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["open"]:
        return open_url_command(args[1:])
    if args[:1] == ["native-host"]:
        return native_host_command(args[1:])
    try:
        return _admin(args)
    except LauncherError as exc:
        return _fail(exc)


def open_url_command(args: list[str]) -> int:
    """`launcher open -- URL`: exactly one URL after `--`, handed to the client or refused."""
    if len(args) != 2 or args[0] != "--":
        return _fail(URLRefused("launcher open takes exactly one URL after --"))
    return open_url(args[1])


def native_host_command(args: list[str]) -> int:
    """`launcher native-host SCHEME [BROWSER_ARG ...]`: serve the browser's messages on stdin/stdout.

    The browser appends its own arguments (the calling extension's origin or id, a window handle);
    they are not trusted for anything, since the extension puts the page's origin in each message.
    """
    from launcher import nativehost, urls

    try:
        scheme = urls.check_scheme(args[0]) if args else ""
    except URLRefused as exc:
        return _fail(exc)
    if not scheme:
        return _fail(URLRefused("launcher native-host takes the game's scheme"))
    if sys.stdin is None or sys.stdout is None:  # started without stdio: not by a browser
        return _fail(URLRefused("launcher native-host talks to a browser over stdin and stdout"))
    return nativehost.serve(scheme, sys.stdin.buffer, sys.stdout.buffer)


def launch(url: str, scheme: str | None = None, origin: str | None = None) -> None:
    """Validate `url` (of `scheme`, from a page of `origin` when an extension sent it) and hand it off."""
    from launcher import config, handoff, urls

    scheme = scheme or urls.scheme_of(url)
    try:
        settings = config.load(scheme)
    except ConfigError as exc:
        if exc.reason != "not_found":
            raise
        raise URLRefused(f"no game is installed for {scheme}:// URLs", "not_configured") from None
    if origin is not None:
        from launcher.nativehost import check_origin

        check_origin(origin, settings.trusted_lobbies)
    join = urls.parse_launch_url(url, scheme, settings.trusted_lobbies)
    handoff.hand_off(join, settings)


def open_url(url: str) -> int:
    """Parse `url`, hand its join to the game client, and return the exit code."""
    try:
        launch(url)
    except LauncherError as exc:
        return _fail(exc)
    except Exception as exc:
        return _fail(LauncherError(f"internal error ({type(exc).__name__})"))
    return EXIT_OK


def _fail(exc: LauncherError) -> int:
    """Print one redacted line about `exc` on stderr and return its exit code."""
    from launcher.urls import redact

    message = " ".join(redact(str(exc)).split())
    if sys.stderr is not None:  # None under Windows' GUI interpreter, pythonw.exe
        sys.stderr.write(f"launcher: {message} [{exc.reason}]\n")
    return exc.exit_code


def _admin(args: list[str]) -> int:
    """Run install, uninstall or status."""
    before, dashes, command = _split_dashes(args)
    parsed = _parser().parse_args(before)
    if parsed.action == "install":
        if not dashes or not command:
            raise ConfigError("install needs the client command after --, e.g. -- /usr/bin/game")
        timeouts = (parsed.start_wait, parsed.reply_timeout)
        return _install(parsed.scheme, parsed.lobby, command, timeouts, parsed.extension_id)
    if dashes:
        raise ConfigError(f"{parsed.action} takes no arguments after --")
    if parsed.action == "bundle":
        return _bundle(parsed.target, parsed.out, parsed.embed)
    if parsed.action == "uninstall":
        return _uninstall(parsed.scheme)
    if parsed.action == "extension":
        return _extension(parsed.scheme, parsed.out, parsed.key, parsed.lobby)
    return _status(parsed.scheme)


def _split_dashes(args: list[str]) -> tuple[list[str], bool, list[str]]:
    """Split the arguments at the first `--`."""
    if "--" in args:
        index = args.index("--")
        return args[:index], True, args[index + 1 :]
    return args, False, []


def _parser() -> object:
    """Build the argument parser of install, uninstall and status."""
    import argparse

    from launcher.config import CLIENT_START_WAIT_S, REPLY_TIMEOUT_S

    parser = argparse.ArgumentParser(prog="launcher", usage=USAGE)
    actions = parser.add_subparsers(dest="action", required=True)
    install = actions.add_parser("install", help="register SCHEME and write its config")
    install.add_argument("scheme")
    install.add_argument("--lobby", action="append", required=True, help="a trusted lobby URL")
    install.add_argument("--start-wait", type=float, default=CLIENT_START_WAIT_S, metavar="S")
    install.add_argument("--reply-timeout", type=float, default=REPLY_TIMEOUT_S, metavar="S")
    install.add_argument(
        "--extension-id", action="append", default=[], metavar="ID",
        help="the game's browser extension, allowed to reach the launcher as a native host",
    )  # fmt: skip
    actions.add_parser("uninstall", help="unregister SCHEME").add_argument("scheme")
    extension = actions.add_parser("extension", help="write the game's browser extension")
    extension.add_argument("scheme")
    extension.add_argument("--out", required=True, help="the folder to write the unpacked extension to")
    extension.add_argument("--key", help="the publisher's RSA private key (PEM); else one kept per scheme")
    extension.add_argument("--lobby", action="append", help="a trusted lobby URL (default: the config's)")
    bundle = actions.add_parser("bundle", help="build a launcher a game ships to players")
    bundle.add_argument("target", choices=("windows", "linux"))
    bundle.add_argument("--out", required=True, help="the folder (windows) or .pyz file (linux) to write")
    bundle.add_argument("--embed", help="windows: python.org's embeddable CPython, its zip or folder")
    actions.add_parser("status", help="is this launcher the handler?").add_argument(
        "scheme", nargs="?"
    )
    return parser


def _install(
    scheme: str,
    lobbies: list[str],
    command: list[str],
    timeouts: tuple[float, float],
    extension_ids: list[str],
) -> int:
    """Write the config, register the scheme, and register the native host for `extension_ids`."""
    from launcher import config, hostmanifest, platforms

    platforms.check_installable_scheme(scheme)
    extension_ids = [hostmanifest.check_extension_id(value) for value in extension_ids]
    resolved = [platforms.resolve_client(command[0]), *command[1:]]
    settings = config.Config(scheme, lobbies, resolved, *timeouts)
    platform = platforms.current()
    platform.check_client_command(resolved)
    platform.check_scheme(scheme)
    if extension_ids and not platform.hosts_supported:
        message = f"no browser extension host registration on {platform.name} yet"
        raise PlatformError(message, "unsupported")
    if extension_ids:
        platform.check_host_free(scheme)
    path = config.save(settings)
    launcher = platforms.launcher_command()
    location = platform.register(scheme, launcher)
    print(f"installed {scheme}:// -> {location}; config {path}")
    if extension_ids:
        for manifest in platform.register_host(scheme, launcher, extension_ids):
            print(f"native host for the browser extension: {manifest}")
    else:
        platform.unregister_host(scheme)
    return EXIT_OK


def _bundle(target: str, out: str, embed: str | None) -> int:
    """Build the shippable launcher for `target`."""
    from launcher import bundle

    if target == "windows":
        if not embed:
            raise ConfigError("bundle windows needs --embed: python.org's embeddable CPython (zip or folder)")
        built = bundle.build_windows(embed, out)
    else:
        built = bundle.build_linux(out)
    print(f"built {built}")
    return EXIT_OK


def _extension(scheme: str, out: str, key: str | None, lobbies: list[str] | None) -> int:
    """Write the game's browser extension and print its id."""
    from launcher import extension

    identifier = extension.build(scheme, out, key, lobbies)
    print(f"wrote the extension for {scheme}:// to {out}; extension id {identifier}")
    print(f"players' installs add: --extension-id {identifier}")
    return EXIT_OK


def _uninstall(scheme: str) -> int:
    """Unregister the scheme (only what carries our marker) and remove its config."""
    from launcher import config, platforms

    platform = platforms.current()
    removed = platform.unregister(scheme)
    removed = platform.unregister_host(scheme) or removed
    removed = config.remove(scheme) or removed
    print(f"uninstalled {scheme}://" if removed else f"nothing to uninstall for {scheme}://")
    return EXIT_OK


def _status(scheme: str | None) -> int:
    """Print whether this launcher is the default handler of one scheme, or of every configured one."""
    import os

    from launcher import config, platforms

    schemes = [scheme] if scheme else []
    if scheme is None and os.path.isdir(config.config_dir()):
        names = sorted(os.listdir(config.config_dir()))
        schemes = [name[: -len(".json")] for name in names if name.endswith(".json")]
    if not schemes:
        print("no scheme is installed")
        return EXIT_ERROR
    platform, code = platforms.current(), EXIT_OK
    for name in schemes:
        state = platform.status(name)
        print(state.describe())
        hosts = platform.host_status(name)
        shown = ", ".join(hosts) if hosts else "not registered"
        print(f"{name}: browser extension native host: {shown}")
        code = code if state.is_default else EXIT_ERROR
    return code
