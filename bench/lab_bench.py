"""The benchmarks that need a running lab, in one deploy: deploy time, footprint, signal delay per
settings set (the seed's beside the lab's), the scale curve.

    python -m bench.lab_bench [--samples 60] [--scale-seconds 8] [--levels 1,2,4,8,16]

The lab is the docker target (``LAB_PROJECT``/``LAB_BIND_ADDRESS``/``LAB_STORES`` as for any run)
deployed from a throwaway copy of the lab's files (see ``bench/lab.py``), destroyed at the end.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from typing import Any

from bench import signal_delay
from bench.common import Report, say
from bench.lab import BenchLab, Settings, current_settings, seconds
from bench.loadgen import require_wrk, run_wrk

# The seed's delivery settings (the baseline): collector batch 10 s, scrape 15 s; the app's
# export delay as compose.yaml ships it (the seed's own SDK defaults were 5 s for spans, 1 s for logs).
SEED = Settings("seed", "10s", "15s")


def proposed_settings(lab: Settings) -> list[Settings]:
    """What the bench compares the lab's settings with (beside the seed's): the scrape interval
    before this change (5 s), a faster one, and faster exports (the app's, the collector's)."""
    sets = [Settings("before: scrape 5 s", lab.collector_batch_timeout, "5s", lab.app_export_delay_ms),
            Settings("scrape 1 s", lab.collector_batch_timeout, "1s", lab.app_export_delay_ms),
            Settings("scrape 1 s, app export 100 ms", lab.collector_batch_timeout, "1s", "100"),
            Settings("scrape 1 s, app export 100 ms, batch 200 ms", "200ms", "1s", "100")]
    same = (lab.collector_batch_timeout, lab.scrape_interval, lab.app_export_delay_ms)
    return [s for s in sets if (s.collector_batch_timeout, s.scrape_interval, s.app_export_delay_ms) != same]


def footprint(bench: BenchLab) -> dict[str, dict[str, float]]:
    return bench.container_stats()


def idle_cpu(bench: BenchLab, window: float = 20.0) -> dict[str, float]:
    """CPU % of one core per service over an idle window."""
    before = bench.container_stats()
    time.sleep(window)
    after = bench.container_stats()
    return {svc: 100 * (after[svc]["cpu_s"] - before[svc]["cpu_s"]) / window
            for svc in after if svc in before}


def delays(bench: BenchLab, settings: list[Settings], samples: int, gap: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for s in settings:
        say(f"signal delay: {s.name} ({s.describe()}), {samples} samples")
        bench.apply(s)
        run = signal_delay.measure(bench.lab, samples=samples, gap=gap, tag=s.name)  # type: ignore[arg-type]
        cpu = idle_cpu(bench, window=15.0)
        out[s.name] = {"settings": s.__dict__, **run.to_dict(), "idle_cpu_pct": cpu}
        summ = out[s.name]["summary"]
        say("  " + ", ".join(f"{sig} p50 {summ[sig]['p50']:.2f} p95 {summ[sig]['p95']:.2f} max "
                             f"{summ[sig]['max']:.2f}" for sig in signal_delay.SIGNALS))
    return out


def scale_curve(bench: BenchLab, levels: list[int], seconds_: float, samples: int) -> list[dict[str, Any]]:
    """Throughput and delay at each concurrency; CPU per service to see what saturates first."""
    require_wrk()
    backend = bench.lab.endpoints.backend + "/api/tasks"  # type: ignore[union-attr]
    rows = []
    for c in levels:
        row: dict[str, Any] = {"connections": c}
        for method in ("GET", "POST"):
            before = bench.container_stats()
            holder: dict[str, Any] = {}
            if method == "GET":
                import threading

                def sample(h: dict[str, Any] = holder, tag: str = f"scale {c}") -> None:
                    time.sleep(1.0)
                    h["run"] = signal_delay.measure(bench.lab, samples=samples,  # type: ignore[arg-type]
                                                    gap=max(0.2, (seconds_ - 2) / samples), tag=tag)

                sampler = threading.Thread(target=sample, daemon=True)
                sampler.start()
            result = run_wrk(backend, method=method, connections=c, threads=min(2, c), seconds=seconds_)
            after = bench.container_stats()
            cpu = {svc: 100 * (after[svc]["cpu_s"] - before[svc]["cpu_s"]) / result.seconds
                   for svc in after if svc in before}
            row[method] = {**result.to_dict(), "cpu_pct": cpu}
            if method == "GET":
                sampler.join(timeout=90)
                run = holder.get("run")
                row["delay"] = run.to_dict()["summary"] if run else None
            top = sorted(cpu.items(), key=lambda kv: -kv[1])[:3]
            say(f"scale c={c:<2} {method:<4} {result.rps:7.1f}/s p50 {result.p50_ms:6.1f} "
                f"p99 {result.p99_ms:7.1f} ms; cpu " + ", ".join(f"{k} {v:.0f}%" for k, v in top))
        rows.append(row)
    return rows


def first_limit(rows: list[dict[str, Any]]) -> str:
    """Where throughput stops growing, and what was busiest there."""
    if not rows:
        return "no data"
    best = max(rows, key=lambda r: r["GET"]["rps"])
    knee = next((r for r in rows if r["GET"]["rps"] >= 0.9 * best["GET"]["rps"]), best)
    cpu = knee["GET"]["cpu_pct"]
    busiest = max(cpu, key=cpu.get)
    post_knee = max(rows, key=lambda r: r["POST"]["rps"])
    return (f"GET stops growing at {knee['connections']} connections ({knee['GET']['rps']:.0f}/s), where "
            f"{busiest} uses {cpu[busiest]:.0f}% of a core (backend {cpu.get('backend', 0):.0f}%: one "
            f"process, the GIL caps it near 100%); POST peaks at {post_knee['connections']} connections "
            f"({post_knee['POST']['rps']:.0f}/s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--gap", type=float, default=0.25)
    parser.add_argument("--scale-seconds", type=float, default=8)
    parser.add_argument("--scale-samples", type=int, default=15)
    parser.add_argument("--levels", default="1,2,4,8,16")
    parser.add_argument("--keep", action="store_true", help="leave the lab running at the end")
    args = parser.parse_args(argv)
    if not 50 <= args.samples <= 200:
        parser.error("--samples must be 50..200 (the issue asks for at least 50)")
    levels = [int(x) for x in args.levels.split(",")]
    if any(not 1 <= c <= 64 for c in levels):
        parser.error("--levels must be 1..64 connections each")
    run(args, levels)
    return 0


def run(args: argparse.Namespace, levels: list[int]) -> dict[str, Report]:
    bench = BenchLab().create()
    reports: dict[str, Report] = {}
    deploy = Report("deploy", "Deploy: docker target, images cached")
    foot = Report("footprint", "Footprint: memory of every container")
    delay = Report("signal_delay", "Signal delay: response → queryable")
    scale = Report("scale", "Scale curve: backend throughput and signal delay by concurrency")
    timings: dict[str, float] = {}
    try:
        say(f"deploy (cold: no containers, no volumes) of {bench.config.project} at "  # type: ignore[union-attr]
            f"{bench.config.bind_address}")  # type: ignore[union-attr]
        bench.down(volumes=True)
        timings["up, cold (no containers or volumes)"] = bench.up()
        timings["up, warm (lab already running)"] = bench.up()
        say(f"deploy: {timings}")
        time.sleep(20)  # idle: first scrapes and exports done
        idle = footprint(bench)
        lab_settings = current_settings(bench.stack, bench.config.stores)  # type: ignore[union-attr]
        sets = [Settings(SEED.name, SEED.collector_batch_timeout, SEED.scrape_interval,
                         lab_settings.app_export_delay_ms), lab_settings, *proposed_settings(lab_settings)]
        delay_data = delays(bench, sets, args.samples, args.gap)
        bench.apply(lab_settings)
        rows = scale_curve(bench, levels, args.scale_seconds, args.scale_samples)
        time.sleep(5)
        loaded = footprint(bench)
        timings["down (volumes kept)"] = bench.down(volumes=False)
        timings["up again (containers removed, volumes and images kept)"] = bench.up()
    finally:
        if not getattr(args, "keep", False):
            try:
                timings["down --volumes"] = bench.down(volumes=True)
            except Exception as exc:
                say(f"down failed: {exc}")

    deploy.data = {"timings_s": timings}
    deploy.add_table("docker target (jaeger-victorialogs, local images cached)", ("step", "seconds"),
                     list(timings.items()), digits=1)
    reports["deploy"] = deploy

    foot.data = {"idle": idle, "after_load": loaded, "stores": bench.config.stores}  # type: ignore[union-attr]
    rows_f = [(svc, idle[svc]["rss_mib"], idle[svc]["mem_mib"], loaded.get(svc, {}).get("rss_mib", math.nan),
               loaded.get(svc, {}).get("mem_mib", math.nan)) for svc in sorted(idle)]
    tot_idle = sum(v["mem_mib"] for v in idle.values())
    tot_loaded = sum(v["mem_mib"] for v in loaded.values())
    rows_f.append(("total", sum(v["rss_mib"] for v in idle.values()), tot_idle,
                   sum(v["rss_mib"] for v in loaded.values()), tot_loaded))
    foot.add_table(f"store set {bench.config.stores}, MiB (RSS; and what `docker stats` shows: usage less "  # type: ignore[union-attr]
                   "inactive page cache)", ("service", "idle RSS", "idle mem", "after load RSS",
                                            "after load mem"), rows_f, digits=0)
    foot.goal("total memory at idle (MiB)", tot_idle, "≤ 1536", tot_idle <= 1536)
    foot.notes.append("tempo-loki cannot run here (no registry for Tempo, Loki, Grafana): its footprint is "
                      "not measured")
    reports["footprint"] = foot

    delay.data = {"sets": delay_data, "samples": args.samples, "gap_s": args.gap}
    d_rows = []
    for name, d in delay_data.items():
        s = d["settings"]
        for sig in signal_delay.SIGNALS:
            m = d["summary"][sig]
            d_rows.append((name, f"{s['app_export_delay_ms']} ms / {s['collector_batch_timeout']} / "
                                 f"{s['scrape_interval']}", sig, m["n"],
                           m["missing"], m["p50"], m["p95"], m["max"]))
    delay.add_table(f"{args.samples} samples per set, POST /api/tasks through the front, seconds after the "
                    "response", ("set", "app export / batch / scrape", "signal", "n", "missing", "p50", "p95",
                                 "max"), d_rows)
    cpu_rows = [(name, *(d["idle_cpu_pct"].get(svc, math.nan) for svc in ("backend", "prometheus",
                                                                          "otel-collector")),
                 sum(d["idle_cpu_pct"].values())) for name, d in delay_data.items()]
    delay.add_table("what each set costs at idle: CPU % of one core over 15 s", ("set", "backend",
                    "prometheus", "collector", "all services"), cpu_rows, digits=1)
    ratio_rows = []
    seed_s = delay_data["seed"]["summary"]
    for name, d in delay_data.items():
        if name == "seed":
            continue
        ratio_rows.append((f"{name} / seed", *(d["summary"][sig]["p50"] / seed_s[sig]["p50"]
                                               if seed_s[sig]["p50"] else math.nan
                                               for sig in signal_delay.SIGNALS)))
    delay.add_table("p50 delay against the seed's settings (lower is better)",
                    ("ratio", "trace", "log", "metric"), ratio_rows)
    lab_s = delay_data[lab_settings.name]["summary"]
    delay.goal("trace p50 (s), lab settings", lab_s["trace"]["p50"], "≤ 1", lab_s["trace"]["p50"] <= 1)
    delay.goal("log p50 (s), lab settings", lab_s["log"]["p50"], "≤ 1", lab_s["log"]["p50"] <= 1)
    interval = seconds(lab_settings.scrape_interval)
    delay.goal(f"metric max (s) within one scrape interval ({interval:g} s) + 1 s query",
               lab_s["metric"]["max"], f"≤ {interval + 1:g}", lab_s["metric"]["max"] <= interval + 1)
    res = [d["poll_resolution_s"]["p50"] for d in delay_data.values()]
    delay.notes.append(f"poller resolution (median tick) {min(res):.2f}-{max(res):.2f} s; the seed's set has "
                       "more samples outstanding at once, so its ticks are longer")
    reports["signal_delay"] = delay

    scale.data = {"rows": rows, "seconds": args.scale_seconds}
    s_rows = []
    for r in rows:
        dl = r.get("delay") or {}
        s_rows.append((r["connections"], r["GET"]["rps"], r["GET"]["p50_ms"], r["GET"]["p99_ms"],
                       r["POST"]["rps"], r["POST"]["p50_ms"], r["POST"]["p99_ms"],
                       *((dl.get(sig) or {}).get("p50", math.nan) for sig in ("trace", "log", "metric")),
                       r["GET"]["cpu_pct"].get("backend", math.nan),
                       r["POST"]["cpu_pct"].get("backend", math.nan),
                       max((v for k, v in r["GET"]["cpu_pct"].items() if k != "backend"), default=math.nan)))
    scale.add_table(f"wrk against the backend's port, {args.scale_seconds:g} s per level; delays sampled "
                    "through the front during the GET run",
                    ("conns", "GET/s", "GET p50 ms", "GET p99 ms", "POST/s", "POST p50 ms", "POST p99 ms",
                     "trace p50 s", "log p50 s", "metric p50 s", "backend CPU % (GET)",
                     "backend CPU % (POST)",
                     "busiest other CPU %"), s_rows, digits=1)
    scale.notes.append(first_limit(rows))
    reports["scale"] = scale
    for rep in reports.values():
        rep.write()
    _ = statistics  # (kept for callers that extend the tables)
    return reports


if __name__ == "__main__":
    raise SystemExit(main())
