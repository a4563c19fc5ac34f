"""``switchboard-mock``: run the mock LLM upstream on a local port.

Prints ``switchboard-mock listening on http://HOST:PORT`` once ready (with ``--port 0`` this is
how a parent process learns the port), then serves until SIGINT/SIGTERM.
"""

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from switchboard.mock.faults import FaultSpec, FaultSpecError, parse_faults
from switchboard.mock.server import make_app
from switchboard.mock.state import MockOptions
from switchboard.serving import serve_until_signalled

API_KEY_ENV = "SWITCHBOARD_MOCK_API_KEY"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchboard-mock",
        description="Mock LLM upstream speaking OpenAI, Azure OpenAI, Anthropic and Gemini, with fault injection.",
        epilog="Runtime control: POST/DELETE /_mock/faults, GET /_mock/stats, GET /_mock/requests. "
        "Per-request faults: x-mock-status, x-mock-fail-rate, x-mock-latency-ms, x-mock-latency-per-token-ms, "
        "x-mock-jitter-ms, x-mock-retry-after, x-mock-hang, x-mock-cut-stream-after, x-mock-error-event-after, "
        "x-mock-stall-after, x-mock-malformed (json|sse), x-mock-malformed-after, x-mock-quota-left, "
        "x-mock-repeat-reply.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8090, help="port to bind; 0 picks a free one (default 8090)")
    parser.add_argument("--api-key", default=os.environ.get(API_KEY_ENV), help=f"expected API key (env {API_KEY_ENV})")
    parser.add_argument("--seed", type=int, default=0, help="seed for fail-rate and jitter decisions")
    parser.add_argument("--model", action="append", default=[], help="model listed by GET /v1/models (repeatable)")
    parser.add_argument("--faults-file", type=Path, help="YAML mapping of model (or '*') to fault fields")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="MODEL:FIELD=VALUE",
        help="one fault field for a model, e.g. 'gpt-4o:status=503' or '*:latency_ms=50' (repeatable)",
    )
    return parser


def parse_fault_flags(flags: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``["m:status=503", "m:fail_rate=0.5"]`` -> ``{"m": {"status": "503", "fail_rate": "0.5"}}``."""
    grouped: dict[str, dict[str, Any]] = {}
    for flag in flags:
        model, sep, assignment = flag.rpartition(":")
        field, eq, value = assignment.partition("=")
        if not sep or not model or not eq or not field:
            raise FaultSpecError(f"--fault {flag!r}: expected MODEL:FIELD=VALUE")
        grouped.setdefault(model, {})[field] = value
    return grouped


def load_faults(path: Path | None, flags: Sequence[str]) -> dict[str, FaultSpec]:
    raw: dict[str, dict[str, Any]] = {}
    if path is not None:
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict) or not all(isinstance(v, dict) for v in loaded.values()):
            raise FaultSpecError(f"{path}: expected a mapping of model name to fault fields")
        raw.update({str(k): dict(v) for k, v in loaded.items()})
    for model, fields in parse_fault_flags(flags).items():
        raw.setdefault(model, {}).update(fields)
    return {model: parse_faults(fields) for model, fields in raw.items()}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        faults = load_faults(args.faults_file, args.fault)
    except (FaultSpecError, OSError, yaml.YAMLError) as exc:
        print(f"switchboard-mock: {exc}", file=sys.stderr)
        return 2
    options = MockOptions(
        api_key=args.api_key, seed=args.seed, models=tuple(args.model) or MockOptions().models, faults=faults
    )
    asyncio.run(
        serve_until_signalled(make_app(options), args.host, args.port, name="switchboard-mock", shutdown_timeout=2.0)
    )
    return 0
