/* loopml deployments page: QPS, latency percentiles and class mix per model (Plotly, local). */
(function () {
  "use strict";
  var el = document.getElementById("page-data");
  if (!el || !window.Plotly) { return; }
  var data = JSON.parse(el.textContent);
  var FONT = { family: "Inter, system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 12, color: "#334155" };
  var CONFIG = { displaylogo: false, responsive: true };
  function layout(title, extra) {
    var base = { title: { text: title, font: { size: 13 } }, font: FONT, margin: { l: 56, r: 16, t: 36, b: 40 },
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", showlegend: true,
      legend: { orientation: "h", x: 1, xanchor: "right", y: 1.02, yanchor: "bottom" },
      xaxis: { gridcolor: "#e2e8f0" }, yaxis: { gridcolor: "#e2e8f0", rangemode: "tozero" } };
    for (var k in extra) { base[k] = extra[k]; }
    return base;
  }
  document.querySelectorAll(".deployment").forEach(function (section, i) {
    var n = i + 1;
    var model = document.getElementById("qps-" + n).dataset.model;
    var d = data[model];
    if (!d) { return; }
    var time = { type: "date", range: d.window, gridcolor: "#e2e8f0" };
    Plotly.newPlot("qps-" + n, [{ x: d.minutes, y: d.qps, type: "bar", name: "req/s", width: 48000,
      xperiod: 60000, xperiodalignment: "start", marker: { color: "#4f46e5" } }],
      layout("requests per second (per minute)", { showlegend: false, xaxis: time }), CONFIG);
    Plotly.newPlot("latency-" + n, [
      { x: d.minutes, y: d.p50, mode: "lines+markers", name: "p50", line: { color: "#059669" } },
      { x: d.minutes, y: d.p99, mode: "lines+markers", name: "p99", line: { color: "#e11d48" } }
    ], layout("latency (ms)", { xaxis: time }), CONFIG);
    Plotly.newPlot("classes-" + n, [{ x: d.classes, y: d.counts, type: "bar", marker: { color: "#0891b2" } }],
      layout("class mix (predicted)", { showlegend: false, xaxis: { type: "category" } }), CONFIG);
  });
  // Live: reload every 10 s while the tab is visible.
  setInterval(function () { if (!document.hidden) { window.location.reload(); } }, 10000);
})();
