// Vendor portal charts: every <canvas class="js-chart" data-chart-source="ID"> is drawn from the JSON in
// <script type="application/json" id="ID"> (Django's json_script), so no inline script is needed (CSP).
// The spec: {"labels": [...], "series": [{"label", "values", "style": "bar"|"line"|"forecast",
// "axis": "left"|"right"}], "band80": {"low", "high"} | null, "band95": {...} | null, "y_label": "..."}.
// Each chart has a table with the same numbers next to it; the chart is a view of that table.
(function () {
  "use strict";

  var COLOURS = ["#0f7d72", "#f59e0b", "#1e40af", "#b42318", "#55657a", "#14b8a6"];
  var FORECAST = "#1e40af";
  var charts = new WeakMap();
  var drawn = new Set();

  function readSpec(canvas) {
    var source = document.getElementById(canvas.getAttribute("data-chart-source") || "");
    if (!source) { return null; }
    try { return JSON.parse(source.textContent); } catch (error) { return null; }
  }

  function bandDatasets(band, label, colour) {
    if (!band) { return []; }
    // The low edge is drawn invisibly; the high edge fills down to it ("-1": the dataset before).
    return [
      { type: "line", label: label + " low", data: band.low, borderWidth: 0, pointRadius: 0,
        fill: false, spanGaps: false, yAxisID: "y", order: 3, isBandEdge: true },
      { type: "line", label: label, data: band.high, borderWidth: 0, pointRadius: 0,
        backgroundColor: colour, fill: "-1", spanGaps: false, yAxisID: "y", order: 3 }
    ];
  }

  function datasets(spec) {
    var list = [];
    (spec.series || []).forEach(function (series, index) {
      var colour = series.style === "forecast" ? FORECAST : COLOURS[index % COLOURS.length];
      var axis = series.axis === "right" ? "y1" : "y";
      if (series.style === "bar") {
        list.push({ type: "bar", label: series.label, data: series.values, backgroundColor: colour,
          yAxisID: axis, order: 2 });
      } else {
        list.push({ type: "line", label: series.label, data: series.values, borderColor: colour,
          backgroundColor: colour, borderWidth: 2, pointRadius: series.style === "forecast" ? 2 : 0,
          borderDash: series.style === "forecast" ? [6, 4] : [], tension: 0.2, spanGaps: false,
          yAxisID: axis, order: 1 });
      }
    });
    list = list.concat(bandDatasets(spec.band95, "95% interval", "rgba(30, 64, 175, 0.12)"));
    list = list.concat(bandDatasets(spec.band80, "80% interval", "rgba(30, 64, 175, 0.22)"));
    return list;
  }

  function rightAxisLabel(spec) {
    var right = (spec.series || []).filter(function (series) { return series.axis === "right"; });
    return right.length ? right[0].label : "";
  }

  function draw(canvas) {
    if (charts.has(canvas) || typeof window.Chart === "undefined") { return; }
    var spec = readSpec(canvas);
    if (!spec) { return; }
    var rightLabel = rightAxisLabel(spec);
    var scales = {
      x: { ticks: { maxTicksLimit: 12, autoSkip: true } },
      y: { beginAtZero: true, title: { display: Boolean(spec.y_label), text: spec.y_label || "" } }
    };
    if (rightLabel) {
      scales.y1 = { position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
        title: { display: true, text: rightLabel } };
    }
    var chart = new window.Chart(canvas, {
      data: { labels: spec.labels || [], datasets: datasets(spec) },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: scales,
        plugins: {
          legend: { labels: { filter: function (item, data) {
            return !data.datasets[item.datasetIndex].isBandEdge;
          } } },
          tooltip: { filter: function (item) { return !item.dataset.isBandEdge && item.raw !== null; } }
        }
      }
    });
    charts.set(canvas, chart);
    drawn.add(chart);
  }

  // A canvas replaced by an htmx swap is gone from the document: its Chart instance is destroyed so it
  // releases its resize observer and memory.
  function destroyDetached() {
    drawn.forEach(function (chart) {
      if (!document.body.contains(chart.canvas)) {
        chart.destroy();
        drawn.delete(chart);
      }
    });
  }

  function drawAll() {
    destroyDetached();
    document.querySelectorAll("canvas.js-chart").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", drawAll);
  document.addEventListener("htmx:afterSettle", drawAll);
})();
