// Reports of `weir bench` runs: what a person reads (nexmark-flink's summary table, a latency
// table, an HTML page with charts) and what a program reads (JSON, HdrHistogram's .hgrm text).
//
// All of them are pure functions of the measured runs (runner.h), so they can be tested on runs
// made up in a test.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "harness/latency_histogram.h"
#include "harness/runner.h"

namespace weir::harness {

// nexmark-flink's summary (Benchmark.printEventNumSummary): a "<title> Results" rule, then one
// row per run and a Total row with columns Query, Events Num, Cores (CPU seconds / wall
// seconds), Time(s), Cores * Time(s) and Throughput/Cores (events per CPU second), formatted as
// nexmark-flink formats them ("100,000,000", "2.14", "144.910", "322.96 K/s").
std::string FormatSummaryTable(std::string_view title, std::span<const QueryRun> runs);

// Latency percentiles (p50, p90, p99, p99.9, p99.99, max) in microseconds and the number of
// result rows, one row per run that measured latency; empty when none did.
std::string FormatLatencyTable(std::span<const QueryRun> runs);

// One step of HdrHistogram's percentile iteration (PercentileIterator with
// `ticks_per_half_distance`): the highest value equivalent to the bucket where the cumulative
// count first reaches `percentile` (capped by the exact maximum, as
// LatencyHistogram::ValueAtPercentile is), and that cumulative count. The last step is
// percentile 100 at the maximum.
struct PercentileStep {
  int64_t value = 0;  // nanoseconds
  double percentile = 0;  // 0..100
  int64_t total_count = 0;
};
std::vector<PercentileStep> PercentileSteps(const LatencyHistogram& histogram, int ticks_per_half_distance = 5);

// HdrHistogram's outputPercentileDistribution text (the .hgrm layout HdrHistogram's plotter
// reads): Value, Percentile, TotalCount, 1/(1-Percentile) lines, then the Mean/StdDeviation,
// Max/Total count and Buckets/SubBuckets footer. Values in microseconds (nanoseconds / 1000),
// three decimals.
std::string PercentileDistribution(const LatencyHistogram& histogram, int ticks_per_half_distance = 5);

// Facts about this machine for the report: hostname, kernel, CPU model, logical CPUs, memory.
nlohmann::json HostInfo();

// The machine-readable report:
//   {"queries": [{"query", "events", "rows", "seconds", "cpu_seconds", "cores", "throughput",
//                 "throughput_per_core", "stopped", "latency_us": {"p50", "p90", "p99", "p99.9",
//                 "p99.99", "max", "count"} or null when not measured,
//                 "throughput_over_time": [[seconds, events/s], ...]}, ...],
//    "config": <config>, "host": <host>}
nlohmann::json ReportJson(std::span<const QueryRun> runs, const nlohmann::json& config, const nlohmann::json& host);

// A self-contained HTML page (inline CSS and SVG; no scripts, fonts or any other resource from
// elsewhere): the summary table, throughput over time, the latency percentile spectrum and
// per-query throughput bars.
std::string HtmlReport(std::string_view title, std::span<const QueryRun> runs, const nlohmann::json& config,
                       const nlohmann::json& host);

// Writes `text` to `path` (replacing it); the Status names the path on failure.
Status WriteTextFile(const std::string& path, std::string_view text);

}  // namespace weir::harness
