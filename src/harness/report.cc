#include "harness/report.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <thread>

#include <fmt/format.h>

namespace weir::harness {
namespace {

// The percentiles every report shows, with their JSON names.
struct NamedPercentile {
  const char* name;
  double percentile;
};
constexpr NamedPercentile kPercentiles[] = {
    {"p50", 50}, {"p90", 90}, {"p99", 99}, {"p99.9", 99.9}, {"p99.99", 99.99},
};

double Micros(int64_t nanos) { return static_cast<double>(nanos) / 1000.0; }

// Java's NumberFormat.getInstance() with at most `fraction_digits` fraction digits, as
// nexmark-flink's NUMBER_FORMAT: grouping commas, trailing fraction zeros dropped.
std::string GroupedNumber(double value, int fraction_digits) {
  std::string text = fmt::format("{:.{}f}", std::abs(value), fraction_digits);
  if (text.find('.') != std::string::npos) {
    while (text.back() == '0') text.pop_back();
    if (text.back() == '.') text.pop_back();
  }
  const size_t integer_end = std::min(text.find('.'), text.size());
  std::string grouped;
  for (size_t i = 0; i < integer_end; ++i) {
    if (i > 0 && (integer_end - i) % 3 == 0) grouped += ',';
    grouped += text[i];
  }
  grouped.append(text, integer_end, std::string::npos);
  if (value < 0 && grouped != "0") grouped.insert(grouped.begin(), '-');
  return grouped;
}

// nexmark-flink's formatLongValuePerSecond: "999/s", "322.96 K/s", "2.96 M/s".
std::string PerSecond(double value) {
  static constexpr const char* kSuffixes[] = {"K", "M", "G", "T", "P", "E"};
  if (!std::isfinite(value)) return "-";
  const int64_t whole = static_cast<int64_t>(value);
  if (whole < 1000) return fmt::format("{}/s", whole);
  double scaled = static_cast<double>(whole);
  int suffix = -1;
  while (scaled >= 1000 && suffix + 1 < static_cast<int>(std::size(kSuffixes))) {
    scaled /= 1000;
    ++suffix;
  }
  return GroupedNumber(scaled, 2) + " " + kSuffixes[suffix] + "/s";
}

// nexmark-flink's printLine: every item is preceded by `separator` and padded with `fill` to
// `width` characters (separator included); the line ends with the separator.
std::string TableLine(char fill, std::string_view separator, size_t width, std::initializer_list<std::string> items) {
  std::string line;
  for (const std::string& item : items) {
    line += separator;
    line += item;
    if (item.size() + separator.size() < width) line.append(width - item.size() - separator.size(), fill);
  }
  line += separator;
  line += '\n';
  return line;
}

std::string HtmlEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string ReadFirstMatch(const char* path, std::string_view prefix) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(prefix)) {
      const size_t colon = line.find(':');
      if (colon == std::string::npos) return "";
      size_t start = line.find_first_not_of(" \t", colon + 1);
      return start == std::string::npos ? "" : line.substr(start);
    }
  }
  return "";
}

// ---- SVG charts ----

constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                   "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
const char* Color(size_t i) { return kColors[i % std::size(kColors)]; }

constexpr double kWidth = 760;
constexpr double kHeight = 340;
constexpr double kLeft = 70;
constexpr double kRight = 150;  // room for the legend
constexpr double kTop = 30;
constexpr double kBottom = 45;

// A step of 1, 2 or 5 times a power of ten giving about `count` ticks over [0, max].
double NiceStep(double max, int count) {
  if (max <= 0) return 1;
  const double raw = max / count;
  const double magnitude = std::pow(10, std::floor(std::log10(raw)));
  for (double factor : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= factor * magnitude) return factor * magnitude;
  }
  return 10 * magnitude;
}

std::string SvgOpen(std::string_view title, std::string_view x_label, std::string_view y_label) {
  std::string svg = fmt::format(
      "<svg class=\"chart\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" role=\"img\">\n"
      "<title>{2}</title>\n"
      "<text x=\"{3}\" y=\"18\" class=\"title\">{2}</text>\n"
      "<text x=\"{4}\" y=\"{5}\" class=\"label\" text-anchor=\"middle\">{6}</text>\n"
      "<text x=\"16\" y=\"{7}\" class=\"label\" text-anchor=\"middle\" transform=\"rotate(-90 16 {7})\">{8}</text>\n",
      kWidth, kHeight, HtmlEscape(title), kLeft, kLeft + (kWidth - kLeft - kRight) / 2, kHeight - 8,
      HtmlEscape(x_label), kTop + (kHeight - kTop - kBottom) / 2, HtmlEscape(y_label));
  svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" class=\"plot\"/>\n", kLeft, kTop,
                     kWidth - kLeft - kRight, kHeight - kTop - kBottom);
  return svg;
}

std::string Legend(const std::vector<std::string>& names, const std::vector<size_t>& color_indexes) {
  std::string svg;
  for (size_t i = 0; i < names.size(); ++i) {
    const double y = kTop + 14 + 18 * static_cast<double>(i);
    svg += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"{3}\" stroke-width=\"3\"/>"
        "<text x=\"{4}\" y=\"{5}\" class=\"tick\">{6}</text>\n",
        kWidth - kRight + 12, y, kWidth - kRight + 32, Color(color_indexes[i]), kWidth - kRight + 38, y + 4,
        HtmlEscape(names[i]));
  }
  return svg;
}

std::string ThroughputChart(std::span<const QueryRun> runs) {
  double max_seconds = 0;
  double max_rate = 0;
  for (const QueryRun& run : runs) {
    for (const ThroughputSample& sample : run.throughput) {
      max_seconds = std::max(max_seconds, sample.seconds);
      max_rate = std::max(max_rate, sample.events_per_second / 1e6);
    }
  }
  std::string svg = SvgOpen("Throughput over time", "seconds since the query started", "M events/s");
  if (max_seconds <= 0) {
    svg += fmt::format("<text x=\"{}\" y=\"{}\" class=\"label\">no samples (every run ended within one "
                       "sampling interval)</text>\n</svg>\n", kLeft + 20, kTop + 40);
    return svg;
  }
  const double x_step = NiceStep(max_seconds, 8);
  const double y_step = NiceStep(max_rate, 5);
  const double x_max = std::ceil(max_seconds / x_step) * x_step;
  const double y_max = std::max(y_step, std::ceil(max_rate / y_step) * y_step);
  const double plot_width = kWidth - kLeft - kRight;
  const double plot_height = kHeight - kTop - kBottom;
  auto x_of = [&](double seconds) { return kLeft + seconds / x_max * plot_width; };
  auto y_of = [&](double rate) { return kTop + plot_height - rate / y_max * plot_height; };
  for (double x = 0; x <= x_max + x_step / 2; x += x_step) {
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" class=\"grid\"/>"
                       "<text x=\"{0:.1f}\" y=\"{3}\" class=\"tick\" text-anchor=\"middle\">{4:g}</text>\n",
                       x_of(x), kTop, kTop + plot_height, kTop + plot_height + 16, x);
  }
  for (double y = 0; y <= y_max + y_step / 2; y += y_step) {
    svg += fmt::format("<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" class=\"grid\"/>"
                       "<text x=\"{3}\" y=\"{4:.1f}\" class=\"tick\" text-anchor=\"end\">{5:g}</text>\n",
                       kLeft, y_of(y), kLeft + plot_width, kLeft - 6, y_of(y) + 4, y);
  }
  std::vector<std::string> names;
  std::vector<size_t> colors;
  for (size_t i = 0; i < runs.size(); ++i) {
    if (runs[i].throughput.empty()) continue;
    std::string points = fmt::format("{:.1f},{:.1f}", x_of(0), y_of(0));
    for (const ThroughputSample& sample : runs[i].throughput) {
      points += fmt::format(" {:.1f},{:.1f}", x_of(sample.seconds), y_of(sample.events_per_second / 1e6));
    }
    svg += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"/>\n", points,
                       Color(i));
    names.push_back(runs[i].name);
    colors.push_back(i);
  }
  svg += Legend(names, colors);
  svg += "</svg>\n";
  return svg;
}

// HdrHistogram's plotter layout: x is log10(1 / (1 - percentile)), so 90%, 99%, 99.9%, ... are
// equally spaced; y is the latency on a log scale (microseconds).
std::string LatencySpectrumChart(std::span<const QueryRun> runs) {
  std::string svg = SvgOpen("Latency by percentile", "percentile", "latency (microseconds)");
  constexpr double kMaxNines = 6;  // 99.9999%
  double max_nines = 2;
  double min_us = 1e300;
  double max_us = 0;
  std::vector<std::vector<PercentileStep>> steps(runs.size());
  for (size_t i = 0; i < runs.size(); ++i) {
    if (!runs[i].measured_latency()) continue;
    steps[i] = PercentileSteps(runs[i].latency);
    for (const PercentileStep& step : steps[i]) {
      if (step.percentile < 100) max_nines = std::max(max_nines, std::log10(100 / (100 - step.percentile)));
      min_us = std::min(min_us, std::max(Micros(step.value), 0.001));
      max_us = std::max(max_us, std::max(Micros(step.value), 0.001));
    }
  }
  if (max_us == 0) {
    svg += fmt::format("<text x=\"{}\" y=\"{}\" class=\"label\">no latency measured (latency is measured in paced "
                       "runs: --rate)</text>\n</svg>\n", kLeft + 20, kTop + 40);
    return svg;
  }
  const double x_max = std::min(kMaxNines, std::ceil(max_nines));
  const double y_low = std::floor(std::log10(min_us));
  const double y_high = std::max(y_low + 1, std::ceil(std::log10(max_us)));
  const double plot_width = kWidth - kLeft - kRight;
  const double plot_height = kHeight - kTop - kBottom;
  auto x_of = [&](double percentile) {
    const double nines = percentile >= 100 ? x_max : std::min(x_max, std::log10(100 / (100 - percentile)));
    return kLeft + nines / x_max * plot_width;
  };
  auto y_of = [&](int64_t nanos) {
    const double log_us = std::log10(std::max(Micros(nanos), 0.001));
    return kTop + plot_height - (log_us - y_low) / (y_high - y_low) * plot_height;
  };
  static constexpr const char* kNinesLabels[] = {"0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"};
  for (int nines = 0; nines <= static_cast<int>(x_max); ++nines) {
    const double x = kLeft + nines / x_max * plot_width;
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" class=\"grid\"/>"
                       "<text x=\"{0:.1f}\" y=\"{3}\" class=\"tick\" text-anchor=\"middle\">{4}</text>\n",
                       x, kTop, kTop + plot_height, kTop + plot_height + 16, kNinesLabels[nines]);
  }
  for (double decade = y_low; decade <= y_high + 0.5; decade += 1) {
    const double y = kTop + plot_height - (decade - y_low) / (y_high - y_low) * plot_height;
    svg += fmt::format("<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" class=\"grid\"/>"
                       "<text x=\"{3}\" y=\"{4:.1f}\" class=\"tick\" text-anchor=\"end\">{5:g}</text>\n",
                       kLeft, y, kLeft + plot_width, kLeft - 6, y + 4, std::pow(10, decade));
  }
  std::vector<std::string> names;
  std::vector<size_t> colors;
  for (size_t i = 0; i < runs.size(); ++i) {
    if (steps[i].empty()) continue;
    std::string points;
    for (const PercentileStep& step : steps[i]) {
      if (!points.empty()) points += ' ';
      points += fmt::format("{:.1f},{:.1f}", x_of(step.percentile), y_of(step.value));
    }
    svg += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"/>\n", points,
                       Color(i));
    names.push_back(runs[i].name);
    colors.push_back(i);
  }
  svg += Legend(names, colors);
  svg += "</svg>\n";
  return svg;
}

std::string ThroughputBarsChart(std::span<const QueryRun> runs) {
  const double bar_height = 22;
  const double height = kTop + 20 + bar_height * 1.5 * static_cast<double>(runs.size()) + 20;
  const double left = 110;
  const double width = kWidth - left - 200;
  double max_rate = 0;
  for (const QueryRun& run : runs) max_rate = std::max(max_rate, run.events_per_second());
  std::string svg = fmt::format(
      "<svg class=\"chart\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" role=\"img\">\n"
      "<title>Throughput per query</title>\n"
      "<text x=\"{2}\" y=\"18\" class=\"title\">Throughput per query (events/s; per core in brackets)</text>\n",
      kWidth, height, left);
  for (size_t i = 0; i < runs.size(); ++i) {
    const QueryRun& run = runs[i];
    const double y = kTop + 10 + bar_height * 1.5 * static_cast<double>(i);
    const double length = max_rate > 0 ? run.events_per_second() / max_rate * width : 0;
    svg += fmt::format(
        "<text x=\"{0}\" y=\"{1:.1f}\" class=\"tick\" text-anchor=\"end\">{2}</text>"
        "<rect x=\"{3}\" y=\"{4:.1f}\" width=\"{5:.1f}\" height=\"{6}\" fill=\"{7}\"/>"
        "<text x=\"{8:.1f}\" y=\"{1:.1f}\" class=\"tick\">{9} ({10})</text>\n",
        left - 8, y + bar_height / 2 + 4, HtmlEscape(run.name), left, y, length, bar_height, Color(i),
        left + length + 6, PerSecond(run.events_per_second()), PerSecond(run.events_per_core_second()));
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace

std::string FormatSummaryTable(std::string_view title, std::span<const QueryRun> runs) {
  constexpr size_t kColumnWidth = 20;
  const bool nexmark = title == "Nexmark";
  std::string out = fmt::format("-------------------------------- {} Results --------------------------------\n\n",
                                title);
  const std::string rule = TableLine('-', "+", kColumnWidth, {"", "", "", "", "", ""});
  out += rule;
  out += TableLine(' ', "|", kColumnWidth,
                   {nexmark ? " Nexmark Query" : " Query", " Events Num", " Cores", " Time(s)", " Cores * Time(s)",
                    " Throughput/Cores"});
  out += rule;
  int64_t total_events = 0;
  double total_cores = 0;
  double total_seconds = 0;
  double total_cpu_seconds = 0;
  double total_per_core = 0;
  for (const QueryRun& run : runs) {
    const double per_core = run.events_per_core_second();
    out += TableLine(' ', "|", kColumnWidth,
                     {run.name + (run.stopped ? " (stopped)" : ""), GroupedNumber(static_cast<double>(run.events), 0),
                      GroupedNumber(run.cores(), 2), fmt::format("{:.3f}", run.seconds),
                      fmt::format("{:.3f}", run.cpu_seconds), PerSecond(per_core)});
    total_events += run.events;
    total_cores += run.cores();
    total_seconds += run.seconds;
    total_cpu_seconds += run.cpu_seconds;
    total_per_core += per_core;
  }
  out += TableLine(' ', "|", kColumnWidth,
                   {"Total", GroupedNumber(static_cast<double>(total_events), 0), fmt::format("{:.3f}", total_cores),
                    fmt::format("{:.3f}", total_seconds), fmt::format("{:.3f}", total_cpu_seconds),
                    PerSecond(total_per_core)});
  out += rule;
  return out;
}

std::string FormatLatencyTable(std::span<const QueryRun> runs) {
  constexpr size_t kColumnWidth = 14;
  std::string body;
  for (const QueryRun& run : runs) {
    if (!run.measured_latency()) continue;
    body += TableLine(' ', "|", kColumnWidth,
                      {run.name, fmt::format("{:.1f}", Micros(run.latency.ValueAtPercentile(50))),
                       fmt::format("{:.1f}", Micros(run.latency.ValueAtPercentile(90))),
                       fmt::format("{:.1f}", Micros(run.latency.ValueAtPercentile(99))),
                       fmt::format("{:.1f}", Micros(run.latency.ValueAtPercentile(99.9))),
                       fmt::format("{:.1f}", Micros(run.latency.ValueAtPercentile(99.99))),
                       fmt::format("{:.1f}", Micros(run.latency.max())), GroupedNumber(static_cast<double>(run.rows), 0)});
  }
  if (body.empty()) return "";
  const std::string rule = TableLine('-', "+", kColumnWidth, {"", "", "", "", "", "", "", ""});
  return "Latency (microseconds from each event's due instant; open loop)\n" + rule +
         TableLine(' ', "|", kColumnWidth, {" Query", " p50", " p90", " p99", " p99.9", " p99.99", " max", " Rows"}) +
         rule + body + rule;
}

std::vector<PercentileStep> PercentileSteps(const LatencyHistogram& histogram, int ticks_per_half_distance) {
  std::vector<PercentileStep> steps;
  const int64_t total = histogram.count();
  if (total == 0) return steps;
  const int64_t max = histogram.max();
  double level = 0;
  int64_t cumulative = 0;
  bool done = false;
  histogram.ForEachBucket([&](int64_t, int64_t highest, int64_t count) {
    if (done) return;
    cumulative += count;
    // HdrHistogram's PercentileIterator: every level reached at this bucket is a step, then the
    // level advances by ever smaller increments (ticks per half distance to 100%).
    while (100.0 * static_cast<double>(cumulative) / static_cast<double>(total) >= level) {
      steps.push_back({std::min(highest, max), level, cumulative});
      if (cumulative == total) {
        done = true;
        break;
      }
      const double halvings = std::floor(std::log(100.0 / (100.0 - level)) / std::log(2.0));
      const double ticks = ticks_per_half_distance * std::pow(2.0, halvings + 1);
      level += 100.0 / ticks;
    }
  });
  steps.push_back({max, 100.0, total});
  return steps;
}

std::string PercentileDistribution(const LatencyHistogram& histogram, int ticks_per_half_distance) {
  std::string out = fmt::format("{:>12} {:>14} {:>10} {:>14}\n\n", "Value", "Percentile", "TotalCount",
                                "1/(1-Percentile)");
  for (const PercentileStep& step : PercentileSteps(histogram, ticks_per_half_distance)) {
    const double fraction = step.percentile / 100.0;
    if (step.percentile < 100) {
      out += fmt::format("{:12.3f} {:2.12f} {:10d} {:14.2f}\n", Micros(step.value), fraction, step.total_count,
                         1.0 / (1.0 - fraction));
    } else {
      out += fmt::format("{:12.3f} {:2.12f} {:10d}\n", Micros(step.value), fraction, step.total_count);
    }
  }
  // Mean and standard deviation over the buckets' median equivalent values, as HdrHistogram.
  double mean = 0;
  double deviation = 0;
  const int64_t total = histogram.count();
  if (total > 0) {
    double sum = 0;
    histogram.ForEachBucket([&](int64_t lowest, int64_t highest, int64_t count) {
      sum += static_cast<double>(lowest + (highest - lowest + 1) / 2) * static_cast<double>(count);
    });
    mean = sum / static_cast<double>(total);
    double squares = 0;
    histogram.ForEachBucket([&](int64_t lowest, int64_t highest, int64_t count) {
      const double delta = static_cast<double>(lowest + (highest - lowest + 1) / 2) - mean;
      squares += delta * delta * static_cast<double>(count);
    });
    deviation = std::sqrt(squares / static_cast<double>(total));
  }
  out += fmt::format("#[Mean    = {:12.3f}, StdDeviation   = {:12.3f}]\n", mean / 1000.0, deviation / 1000.0);
  out += fmt::format("#[Max     = {:12.3f}, Total count    = {:12d}]\n", Micros(histogram.max()), total);
  out += fmt::format("#[Buckets = {:12d}, SubBuckets     = {:12d}]\n", LatencyHistogram::kBuckets,
                     2 * LatencyHistogram::kSubBucketHalfCount);
  return out;
}

nlohmann::json HostInfo() {
  nlohmann::json host;
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) == 0) host["hostname"] = name;
  struct utsname uts {};
  if (::uname(&uts) == 0) host["kernel"] = fmt::format("{} {} {}", uts.sysname, uts.release, uts.machine);
  host["cpu_model"] = ReadFirstMatch("/proc/cpuinfo", "model name");
  host["logical_cpus"] = std::thread::hardware_concurrency();
  host["memory"] = ReadFirstMatch("/proc/meminfo", "MemTotal");
  const std::time_t now = std::time(nullptr);
  std::tm utc {};
  gmtime_r(&now, &utc);
  char date[32];
  std::strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &utc);
  host["date"] = date;
  return host;
}

nlohmann::json ReportJson(std::span<const QueryRun> runs, const nlohmann::json& config, const nlohmann::json& host) {
  nlohmann::json queries = nlohmann::json::array();
  for (const QueryRun& run : runs) {
    nlohmann::json query;
    query["query"] = run.name;
    query["events"] = run.events;
    query["rows"] = run.rows;
    query["seconds"] = run.seconds;
    query["cpu_seconds"] = run.cpu_seconds;
    query["cores"] = run.cores();
    query["throughput"] = run.events_per_second();
    query["throughput_per_core"] = run.events_per_core_second();
    query["parallelism"] = run.parallelism;
    query["rate"] = run.rate;
    query["stopped"] = run.stopped;
    if (run.measured_latency()) {
      nlohmann::json latency;
      for (const NamedPercentile& named : kPercentiles) {
        latency[named.name] = Micros(run.latency.ValueAtPercentile(named.percentile));
      }
      latency["max"] = Micros(run.latency.max());
      latency["count"] = run.latency.count();
      query["latency_us"] = std::move(latency);
    } else {
      query["latency_us"] = nullptr;
    }
    nlohmann::json samples = nlohmann::json::array();
    for (const ThroughputSample& sample : run.throughput) {
      samples.push_back({sample.seconds, sample.events_per_second});
    }
    query["throughput_over_time"] = std::move(samples);
    queries.push_back(std::move(query));
  }
  return nlohmann::json{{"queries", std::move(queries)}, {"config", config}, {"host", host}};
}

std::string HtmlReport(std::string_view title, std::span<const QueryRun> runs, const nlohmann::json& config,
                       const nlohmann::json& host) {
  std::string html = fmt::format(R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>weir bench: {0}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; max-width: 1000px; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
pre {{ background: #f6f6f6; padding: 8px; overflow-x: auto; }}
svg.chart {{ display: block; margin: 1.5em 0; }}
svg .title {{ font-size: 14px; font-weight: bold; }}
svg .label {{ font-size: 12px; fill: #444; }}
svg .tick {{ font-size: 11px; fill: #444; }}
svg .grid {{ stroke: #e4e4e4; stroke-width: 1; }}
svg .plot {{ fill: none; stroke: #999; }}
</style>
</head>
<body>
<h1>weir bench: {0}</h1>
)",
                                 HtmlEscape(title));
  html += "<table>\n<tr><th>Query</th><th>Events</th><th>Rows</th><th>Time (s)</th><th>Cores</th>"
          "<th>Cores &times; Time (s)</th><th>Throughput</th><th>Throughput/Core</th><th>p50 (&micro;s)</th>"
          "<th>p99 (&micro;s)</th><th>p99.99 (&micro;s)</th><th>max (&micro;s)</th></tr>\n";
  for (const QueryRun& run : runs) {
    auto latency = [&](double percentile) {
      return run.measured_latency() ? fmt::format("{:.1f}", Micros(run.latency.ValueAtPercentile(percentile)))
                                    : std::string("-");
    };
    html += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.3f}</td><td>{}</td><td>{:.3f}</td><td>{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
        HtmlEscape(run.name) + (run.stopped ? " (stopped)" : ""), GroupedNumber(static_cast<double>(run.events), 0),
        GroupedNumber(static_cast<double>(run.rows), 0), run.seconds, GroupedNumber(run.cores(), 2), run.cpu_seconds,
        PerSecond(run.events_per_second()), PerSecond(run.events_per_core_second()), latency(50), latency(99),
        latency(99.99), run.measured_latency() ? fmt::format("{:.1f}", Micros(run.latency.max())) : "-");
  }
  html += "</table>\n";
  html += ThroughputBarsChart(runs);
  html += ThroughputChart(runs);
  html += LatencySpectrumChart(runs);
  html += "<h2>Configuration</h2>\n<pre>" + HtmlEscape(config.dump(2)) + "</pre>\n";
  html += "<h2>Host</h2>\n<pre>" + HtmlEscape(host.dump(2)) + "</pre>\n";
  html += "</body>\n</html>\n";
  return html;
}

Status WriteTextFile(const std::string& path, std::string_view text) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return ErrnoStatus(errno, fmt::format("cannot write {}", path));
  const size_t written = std::fwrite(text.data(), 1, text.size(), file);
  const int write_error = written == text.size() ? 0 : errno;
  if (std::fclose(file) != 0 && write_error == 0) return ErrnoStatus(errno, fmt::format("cannot write {}", path));
  if (write_error != 0) return ErrnoStatus(write_error, fmt::format("cannot write {}", path));
  return Status::Ok();
}

}  // namespace weir::harness
