"""App throughput and latency, side by side: the seed's serving vs ours, telemetry on/off, collector down.

    python -m bench.app_throughput [--seconds 10] [--rounds 2] [--connections 8]
                                   [--variant "label:ours:GUNICORN_THREADS=4,..."]

Every variant runs at once (each its own process, port and SQLite file, all on loopback); wrk
(2 threads x 8 connections by default, as the issue's baseline) drives GET and POST /api/tasks
against each in turn, the order rotated every round, so load from other users of the machine
falls on every variant alike. Besides requests/s and latency, the server's CPU time per request
(its process group's user+system time over the run / requests answered) is measured: it moves
much less with the machine's load than throughput does.

Telemetry goes to a real collector (the lab's image, base config); "collector down" points the
exporters at a closed port. The ratios of the goals are taken per round and the median shown.
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass, field
from typing import Any

from bench.common import Report, free_port, say
from bench.loadgen import require_wrk, run_wrk
from bench.servers import Backend, Sink, compose_backend_env, workdir

HOST = "127.0.0.14"
METHODS = ("GET", "POST")


@dataclass
class Variant:
    label: str
    kind: str  # ours | dev
    telemetry: str  # on | off | down
    env: dict[str, str] = field(default_factory=dict)


def default_variants() -> list[Variant]:
    return [
        Variant("dev server (seed)", "dev", "on"),
        Variant("ours", "ours", "on"),
        Variant("ours, OTEL_SDK_DISABLED", "ours", "off"),
        Variant("ours, collector down", "ours", "down"),
    ]


def parse_variant(text: str) -> Variant:
    """``label:kind:telemetry[:K=V,K=V]`` (kind ours|dev, telemetry on|off|down)."""
    parts = text.split(":", 3)
    if len(parts) < 3 or parts[1] not in ("ours", "dev") or parts[2] not in ("on", "off", "down"):
        raise argparse.ArgumentTypeError(
            f"--variant {text!r}: expected label:ours|dev:on|off|down[:KEY=VALUE,...]")
    env = dict(item.split("=", 1) for item in parts[3].split(",") if item) if len(parts) == 4 else {}
    return Variant(parts[0], parts[1], parts[2], env)


def telemetry_env(mode: str, sink: Sink | None, closed_port: int) -> dict[str, str]:
    if mode == "off":
        return {"OTEL_SDK_DISABLED": "true"}
    env = compose_backend_env()
    endpoint = sink.endpoint if mode == "on" and sink else f"http://{HOST}:{closed_port}"
    env.update(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint if endpoint.startswith("http") else f"http://{endpoint}")
    return env


def measure(variants: list[Variant], *, seconds: float, rounds: int, connections: int,
            threads: int) -> dict[str, Any]:
    """Start every variant, run the rounds, stop everything; raw runs per variant and method."""
    require_wrk()
    tmp = workdir()
    sink = Sink(HOST, "obslab-bench-sink") if any(v.telemetry == "on" for v in variants) else None
    closed = free_port(HOST)
    servers: dict[str, Backend] = {}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {v.label: {m: [] for m in METHODS} for v in variants}
    try:
        for v in variants:
            env = {**telemetry_env(v.telemetry, sink, closed), **v.env}
            servers[v.label] = Backend(v.kind, HOST, env, tmp, v.label)
            servers[v.label].seed_tasks()
            say(f"started {v.label} at {servers[v.label].url}")
        for v in variants:  # warm-up: imports, first connections, the SQLite page cache
            for method in METHODS:
                run_wrk(servers[v.label].url + "/api/tasks", method=method, connections=connections,
                        threads=threads, seconds=2)
        for r in range(rounds):
            order = variants[r % len(variants):] + variants[: r % len(variants)]
            for v in order:
                server = servers[v.label]
                for method in METHODS:
                    cpu0 = server.cpu_seconds()
                    result = run_wrk(server.url + "/api/tasks", method=method, connections=connections,
                                     threads=threads, seconds=seconds)
                    row = result.to_dict()
                    row["cpu_ms_per_request"] = ((server.cpu_seconds() - cpu0) * 1000 / result.requests
                                                 if result.requests else float("nan"))
                    row["round"] = r
                    runs[v.label][method].append(row)
                    say(f"round {r + 1}/{rounds} {v.label:<28} {method:<4} {result.rps:7.1f}/s "
                        f"p50 {result.p50_ms:6.1f} p99 {result.p99_ms:7.1f} ms "
                        f"cpu {row['cpu_ms_per_request']:.2f} ms/req errors {result.errors}")
    finally:
        for server in servers.values():
            server.stop()
        if sink:
            sink.stop()
    return runs


def aggregate(rows: list[dict[str, Any]]) -> dict[str, float]:
    requests = sum(r["requests"] for r in rows)
    seconds = sum(r["seconds"] for r in rows)
    return {
        "rps": requests / seconds if seconds else 0.0,
        "p50_ms": statistics.median(r["p50_ms"] for r in rows),
        "p99_ms": max(r["p99_ms"] for r in rows),
        "cpu_ms": statistics.median(r["cpu_ms_per_request"] for r in rows),
        "errors": sum(r["errors"] for r in rows),
        "requests": requests,
    }


def round_ratio(runs: dict[str, dict[str, list[dict[str, Any]]]], a: str, b: str, method: str) -> float:
    """Median over rounds of rps(a) / rps(b) (each round's pair ran minutes apart at most)."""
    pairs = zip(runs[a][method], runs[b][method], strict=True)
    return statistics.median(x["rps"] / y["rps"] for x, y in pairs if y["rps"])


def report(runs: dict[str, dict[str, list[dict[str, Any]]]], args: argparse.Namespace) -> Report:
    rep = Report("app_throughput", "App throughput and latency (wrk, loopback)")
    agg = {label: {m: aggregate(rows) for m, rows in by_method.items()} for label, by_method in runs.items()}
    rep.data = {"settings": {k: v for k, v in vars(args).items() if k not in ("variant", "variants")}
                | {"variants": [v.__dict__ for v in args.variants]}, "runs": runs,
                "aggregate": agg}
    rows = []
    for label, by_method in agg.items():
        g, p = by_method["GET"], by_method["POST"]
        rows.append((label, g["rps"], p["rps"], g["p50_ms"], g["p99_ms"], p["p50_ms"], p["p99_ms"],
                     g["cpu_ms"], p["cpu_ms"], g["errors"] + p["errors"]))
    rep.add_table(
        f"GET and POST /api/tasks, wrk {args.threads} threads x {args.connections} connections, "
        f"{args.rounds} rounds x {args.seconds:g} s each, interleaved",
        ("server", "GET/s", "POST/s", "GET p50 ms", "GET p99 ms", "POST p50 ms", "POST p99 ms",
         "GET CPU ms/req", "POST CPU ms/req", "errors"), rows, digits=1)
    labels = list(runs)
    seed, ours = "dev server (seed)", "ours"
    ratio_rows = []
    for label in labels:
        if label == seed:
            continue
        for method in METHODS:
            ratio_rows.append((f"{label} / {seed}", method, round_ratio(runs, label, seed, method)))
    rep.add_table("Throughput ratios (median of per-round ratios)", ("ratio", "method", "x"), ratio_rows)
    if seed in runs and ours in runs:
        for method in METHODS:
            r = round_ratio(runs, ours, seed, method)
            rep.goal(f"ours / development server, {method}", r, "≥ 3", r >= 3)
    off, down = "ours, OTEL_SDK_DISABLED", "ours, collector down"
    if off in runs and ours in runs:
        for method in METHODS:
            r = round_ratio(runs, ours, off, method)
            rep.goal(f"telemetry on / off, {method}", r, "≥ 0.85", r >= 0.85)
    if down in runs and ours in runs:
        for method in METHODS:
            cost = 1 - round_ratio(runs, down, ours, method)
            rep.goal(f"collector down: throughput lost, {method}", cost, "≤ 0.05", cost <= 0.05)
    return rep


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variant", type=parse_variant, action="append", default=[],
                        help="an extra variant, label:ours|dev:on|off|down[:KEY=VALUE,...]")
    parser.add_argument("--only-variants", action="store_true", help="run the --variant ones only")
    args = parser.parse_args(argv)
    args.variants = ([] if args.only_variants else default_variants()) + args.variant
    if not 1 <= args.seconds <= 60 or not 1 <= args.rounds <= 10:
        parser.error("--seconds must be 1..60 and --rounds 1..10 (the run stays bounded)")
    runs = measure(args.variants, seconds=args.seconds, rounds=args.rounds, connections=args.connections,
                   threads=args.threads)
    report(runs, args).write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
