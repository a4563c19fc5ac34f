"""``switchboard-proxy``: serve the OpenAI-compatible API.

Standalone: ``switchboard-proxy --config proxy.yaml`` (hot reloaded).
Cluster: ``switchboard-proxy --kubernetes`` takes its config from the rendered
ConfigMaps through ``switchboard.proxy.kube.create_source(options)``.
``--workers N`` runs N processes sharing the port through SO_REUSEPORT.
``--api-keys-file FILE`` (or ``$SWITCHBOARD_API_KEYS_FILE``) makes every API
request present a client key (``docs/auth.md``); without it there is no client auth.
``--log-format json`` writes one JSON object per log line (``docs/observability.md``);
traces and GenAI metrics go over OTLP when the standard ``OTEL_*`` variables say so.
"""

import argparse
import asyncio
import dataclasses
import gc
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path

from switchboard.logformat import LOG_FORMATS, configure_logging
from switchboard.proxy import kube
from switchboard.proxy.app import DEFAULT_MAX_BODY_BYTES, AppOptions, create_app
from switchboard.proxy.auth import API_KEYS_FILE_ENV, KeyFileError, KeyFileSource
from switchboard.proxy.config_source import ConfigSource, FileSource
from switchboard.proxy.fleet.store import StoreSettings, url_problem
from switchboard.proxy.telemetry.settings import TelemetrySettings, TelemetrySettingsError
from switchboard.proxy.telemetry.setup import Telemetry
from switchboard.proxy.workers import run_workers
from switchboard.serving import serve_until_signalled

log = logging.getLogger("switchboard.proxy")
STATE_STORE_ENV = "SWITCHBOARD_STATE_STORE"
CLIENT_AUTH_ENV = "SWITCHBOARD_CLIENT_AUTH"
STATE_STORE_PASSWORD_ENV = "SWITCHBOARD_STATE_STORE_PASSWORD"
GC_YOUNG_THRESHOLD = 10_000
"""Net new container objects before a young collection (CPython's default: 700). A request's
objects are freed by reference counting; at 700, the objects of requests in flight alone
set off a collection every few requests that finds nothing: 6 % of the CPU under load."""


class _DefaultsOnce(argparse.ArgumentDefaultsHelpFormatter):
    """Appends ``(default: X)`` only where the help does not already say the default and there is one."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or action.default is None or action.default is False:
            return text
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchboard-proxy",
        description=__doc__.split("\n\n")[0],
        formatter_class=_DefaultsOnce,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", type=Path, metavar="FILE", help="ProxyConfig YAML file, reloaded on change")
    source.add_argument("--kubernetes", action="store_true", help="load config from rendered ConfigMaps (cluster)")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on; 0 picks a free one")
    parser.add_argument("--workers", type=int, default=1, metavar="N", help="worker processes sharing the port")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="verbosity")
    parser.add_argument(
        "--log-format", default="text", choices=LOG_FORMATS, help="text lines or one JSON object per line"
    )
    parser.add_argument(
        "--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES, help="larger request bodies get a 413"
    )
    parser.add_argument("--reload-interval", type=float, default=0.5, help="seconds between config file checks")
    parser.add_argument(
        "--api-keys-file",
        type=Path,
        metavar="FILE",
        help=f"client API keys (YAML), reloaded on change; default ${API_KEYS_FILE_ENV}; unset: no client auth",
    )
    parser.add_argument(
        "--client-auth",
        action="store_true",
        default=os.environ.get(CLIENT_AUTH_ENV, "").strip().lower() in ("1", "true", "required"),
        help=f"require client keys even without a keys file (cluster mode: team keys); default ${CLIENT_AUTH_ENV}",
    )
    parser.add_argument(
        "--state-store",
        metavar="URL",
        default=os.environ.get(STATE_STORE_ENV) or None,
        help=f"redis:// or rediss:// (TLS) Redis/Valkey for fleet-wide limits; default ${STATE_STORE_ENV}",
    )
    parser.add_argument(
        "--state-store-password-file",
        type=Path,
        metavar="FILE",
        help=f"file holding the store's password (a mounted Secret); else ${STATE_STORE_PASSWORD_ENV}",
    )
    parser.add_argument(
        "--state-store-timeout",
        type=float,
        default=0.05,
        metavar="SECONDS",
        help="longest wait for the store before a request falls back to local 1/N limits (default 0.05)",
    )
    parser.add_argument(
        "--shutdown-grace",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="after SIGTERM, in-flight requests and streams get this long to finish (default 10)",
    )
    parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)  # set for worker processes
    kube.add_arguments(parser)
    return parser


def _version() -> str:
    try:
        return metadata.version("switchboard")
    except metadata.PackageNotFoundError:
        return "unknown"


MAX_WORKERS = 256
MIN_RELOAD_INTERVAL_S = 0.05


def invalid_flag(args: argparse.Namespace) -> str | None:
    """The first flag with a value the proxy cannot run with, as a one-line message; None when all are fine."""
    if not 0 <= args.port <= 65535:
        return f"--port must be between 0 and 65535, got {args.port}"
    if not 1 <= args.workers <= MAX_WORKERS:
        return f"--workers must be between 1 and {MAX_WORKERS}, got {args.workers}"
    if args.max_body_bytes < 1:
        return f"--max-body-bytes must be positive, got {args.max_body_bytes}"
    if not (MIN_RELOAD_INTERVAL_S <= args.reload_interval <= 3600):  # also refuses nan
        return f"--reload-interval must be between {MIN_RELOAD_INTERVAL_S} and 3600 seconds, got {args.reload_interval}"
    if not (0 <= args.shutdown_grace <= 3600):  # also refuses nan
        return f"--shutdown-grace must be between 0 and 3600 seconds, got {args.shutdown_grace}"
    if args.state_store_timeout <= 0:
        return f"--state-store-timeout must be positive, got {args.state_store_timeout}"
    if args.state_store and (problem := url_problem(args.state_store)) is not None:
        return f"--state-store: {problem}"
    if args.client_auth and not args.kubernetes and api_keys_path(args) is None:
        return "--client-auth without --api-keys-file would refuse every request (team keys need --kubernetes)"
    status_interval = getattr(args, "status_interval", None)
    if status_interval is not None and not (0 < status_interval <= 3600):
        return f"--status-interval must be between 0 and 3600 seconds, got {status_interval}"
    return None


def make_source(args: argparse.Namespace) -> ConfigSource:
    if args.kubernetes:
        return kube.create_source(args)
    return FileSource(Path(args.config), interval_s=args.reload_interval)


def api_keys_path(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Path | None:
    """The keys file from ``--api-keys-file``, else ``$SWITCHBOARD_API_KEYS_FILE``; None: auth off."""
    if args.api_keys_file is not None:
        return Path(args.api_keys_file)
    value = (os.environ if environ is None else environ).get(API_KEYS_FILE_ENV, "").strip()
    return Path(value) if value else None


def app_options(args: argparse.Namespace) -> AppOptions:
    """Options of the app from the flags; raises KeyFileError for a missing or invalid keys file."""
    keys_path = api_keys_path(args)
    api_keys = KeyFileSource(keys_path).current if keys_path is not None else None
    if keys_path is not None or args.client_auth:
        where = f"keys file {keys_path}" if keys_path is not None else "no keys file"
        log.info("client API keys required (%s%s)", where, ", team keys" if args.kubernetes else "")
    return AppOptions(
        max_body_bytes=args.max_body_bytes,
        api_keys=api_keys,
        client_auth=args.client_auth,
        state_store=store_settings(args),
    )


def store_settings(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> StoreSettings | None:
    """The ``--state-store`` settings; the password from its file, else the environment (never the command line)."""
    if not args.state_store:
        return None
    password = (os.environ if environ is None else environ).get(STATE_STORE_PASSWORD_ENV) or None
    if args.state_store_password_file is not None:
        try:
            password = Path(args.state_store_password_file).read_text("utf-8").strip()
        except OSError as e:
            raise KeyFileError(f"cannot read --state-store-password-file: {e.strerror}") from None
    return StoreSettings(args.state_store, password, timeout_s=args.state_store_timeout)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    problem = invalid_flag(args)
    if problem is not None:
        print(f"switchboard-proxy: {problem}", file=sys.stderr)
        return 2
    try:
        # Also in a --workers parent: refuse a bad keys file or OTEL_* value once, up front.
        TelemetrySettings.from_env(os.environ)
        options = app_options(args)
    except (KeyFileError, TelemetrySettingsError) as e:  # the message names the entry and field, never a key
        print(f"switchboard-proxy: {e}", file=sys.stderr)
        return 2
    telemetry: Telemetry | None = None
    try:
        if args.workers > 1:
            return run_workers(args, sys.argv[1:] if argv is None else list(argv))
        telemetry = Telemetry.from_env()  # in the serving process only: exporters run threads of their own
        app = create_app(make_source(args), dataclasses.replace(options, telemetry=telemetry))
        # Everything imported and built so far lives as long as the process: out of the collector's way, so
        # a full collection under load walks the requests' objects only (shorter pauses, a lower p99).
        gc.freeze()
        gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(
                serve_until_signalled(
                    app,
                    args.host,
                    args.port,
                    name="switchboard-proxy",
                    shutdown_timeout=args.shutdown_grace,
                    reuse_port=args.reuse_port,
                    handler_cancellation=True,
                )
            )
    except OSError as e:  # the address is taken or not ours to bind: one line, no traceback
        print(f"switchboard-proxy: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
        return 1
    finally:
        if telemetry is not None:
            telemetry.shutdown()  # flush buffered spans and metrics
    return 0


if __name__ == "__main__":
    sys.exit(main())
