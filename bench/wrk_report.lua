-- wrk script of the benchmarks: one method, a fixed body for POST, and a one-line JSON summary
-- (latency percentiles in microseconds) that bench/loadgen.py parses.
local method = os.getenv("BENCH_METHOD") or "GET"
wrk.method = method
if method == "POST" then
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = os.getenv("BENCH_BODY") or '{"title": "bench task"}'
end

done = function(summary, latency, requests)
  local e = summary.errors
  local out = string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect_errors": %d, '
      .. '"read_errors": %d, "write_errors": %d, "status_errors": %d, "timeouts": %d, '
      .. '"latency_mean_us": %.1f, "latency_max_us": %d',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency.mean, latency.max)
  for _, p in ipairs({50, 90, 95, 99}) do
    out = out .. string.format(', "p%d_us": %d', p, latency:percentile(p))
  end
  io.write(out .. "}\n")
end
