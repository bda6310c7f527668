-- Prints one machine-readable line at the end of a wrk run: counts, errors
-- and latency percentiles (microseconds), including p99.9 which --latency lacks.
done = function(summary, latency, requests)
  io.write(string.format(
    "WRK requests=%d duration_us=%d status_errors=%d connect_errors=%d read_errors=%d " ..
    "write_errors=%d timeouts=%d p50_us=%d p99_us=%d p999_us=%d max_us=%d\n",
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
