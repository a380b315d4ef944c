/* loopml dashboard: charts and small interactions. No framework; Plotly is served locally. */
(function () {
  "use strict";

  var PALETTE = ["#4f46e5", "#e11d48", "#059669", "#d97706", "#0891b2", "#7c3aed", "#db2777",
    "#65a30d", "#2563eb", "#dc2626", "#0d9488", "#ca8a04"];
  var CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
  var FONT = { family: "Inter, system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 12, color: "#334155" };

  function $(sel) { return document.querySelector(sel); }
  function $all(sel) { return Array.prototype.slice.call(document.querySelectorAll(sel)); }

  function pageData() {
    var el = document.getElementById("page-data");
    return el ? JSON.parse(el.textContent) : null;
  }

  // JSON cannot carry NaN or infinities; the API sends them as strings.
  function num(v) { return v === null || v === undefined ? NaN : Number(v); }

  function layout(extra) {
    var base = {
      font: FONT, margin: { l: 56, r: 16, t: 36, b: 40 }, paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)", hovermode: "closest", showlegend: true,
      legend: { orientation: "h", x: 1, xanchor: "right", y: 1.02, yanchor: "bottom" },
      xaxis: { gridcolor: "#e2e8f0", zeroline: false }, yaxis: { gridcolor: "#e2e8f0", zeroline: false }
    };
    for (var k in extra) { base[k] = extra[k]; }
    return base;
  }

  /* ---------- runs table: selection ---------- */
  function initSelection() {
    var all = $("#select-all");
    var button = $("#compare-button");
    var boxes = $all("input[type=checkbox][form=compare-form]");
    function update() {
      var n = boxes.filter(function (b) { return b.checked; }).length;
      if (button) {
        button.textContent = n ? "Compare selected (" + n + ")" : "Compare selected";
        button.disabled = n === 0;
      }
    }
    if (all) {
      all.addEventListener("change", function () {
        boxes.forEach(function (b) { b.checked = all.checked; });
        update();
      });
    }
    boxes.forEach(function (b) { b.addEventListener("change", update); });
    update();
  }

  /* ---------- metric charts (run and compare pages) ---------- */
  var state = { series: {}, data: null };

  function controls() {
    var x = $("#x-axis"), s = $("#smoothing"), log = $("#log-scale");
    return { x: x ? x.value : "step", smoothing: s ? Number(s.value) : 0, log: log ? log.checked : false };
  }

  function smooth(values, alpha) {
    if (!alpha) { return values; }
    var out = [], last = null;
    for (var i = 0; i < values.length; i++) {
      var v = values[i];
      if (!isFinite(v)) { out.push(v); continue; }
      last = last === null ? v : alpha * last + (1 - alpha) * v;
      out.push(last);
    }
    return out;
  }

  function drawCharts() {
    var data = state.data, c = controls(), holder = $("#charts"), sys = $("#system-charts");
    if (!holder || !data) { return; }
    data.keys.forEach(function (key, ki) {
      var div = document.getElementById("chart-" + ki);
      if (!div) {
        div = document.createElement("div");
        div.className = "chart";
        div.id = "chart-" + ki;
        div.setAttribute("data-key", key);
        // System metrics (system/...) get their own section where the page has one.
        (sys && key.indexOf("system/") === 0 ? sys : holder).appendChild(div);
      }
      var traces = [], points = 0, downsampled = false;
      data.runs.forEach(function (run, ri) {
        var s = (state.series[key] || {})[run.id];
        if (!s) { return; }
        var y = s.values.map(num);
        var x;
        if (c.x === "time") { x = s.times.map(function (t) { return new Date(t * 1000); }); }
        else if (c.x === "relative") { var t0 = s.times.length ? s.times[0] : 0; x = s.times.map(function (t) { return t - t0; }); }
        else { x = s.steps; }
        points += y.length;
        downsampled = downsampled || s.downsampled;
        var color = PALETTE[ri % PALETTE.length];
        var name = data.runs.length > 1 ? run.name : key;
        if (c.smoothing) {
          traces.push({ x: x, y: y, name: name + " (raw)", mode: "lines", line: { color: color, width: 1 }, opacity: 0.25, showlegend: false, hoverinfo: "skip" });
        }
        traces.push({ x: x, y: smooth(y, c.smoothing), name: name, mode: y.length < 60 ? "lines+markers" : "lines",
          line: { color: color, width: 2 }, marker: { size: 4 } });
      });
      div.setAttribute("data-points", String(points));
      var title = key + (downsampled ? "  (downsampled)" : "");
      Plotly.react(div, traces, layout({
        title: { text: title, font: { size: 13 }, x: 0.02 },
        showlegend: data.runs.length > 1,
        xaxis: { title: { text: c.x === "step" ? "step" : (c.x === "relative" ? "seconds" : "") }, gridcolor: "#e2e8f0", zeroline: false },
        yaxis: { type: c.log ? "log" : "linear", gridcolor: "#e2e8f0", zeroline: false }
      }), CONFIG);
    });
    holder.setAttribute("data-ready", "true");
    if (sys) { sys.setAttribute("data-ready", "true"); }
  }

  function seriesUrl(data) {
    var parts = data.runs.map(function (r) { return "run=" + encodeURIComponent(r.id); });
    data.keys.forEach(function (k) { parts.push("key=" + encodeURIComponent(k)); });
    return "/api/v1/series?" + parts.join("&");
  }

  function loadSeries() {
    return fetch(seriesUrl(state.data)).then(function (r) {
      if (!r.ok) { throw new Error("series request failed: " + r.status); }
      return r.json();
    }).then(function (body) { state.series = body.series; drawCharts(); });
  }

  function pollLive(runId) {
    // While a run is running, refresh its charts and status every few seconds.
    var timer = setInterval(function () {
      fetch("/api/v1/runs/" + encodeURIComponent(runId)).then(function (r) { return r.json(); }).then(function (run) {
        var keys = Object.keys(run.metrics || {});
        if (keys.join() !== state.data.keys.join()) { state.data.keys = keys; }
        loadSeries();
        var badge = $("#run-status");
        if (run.status !== "running") {
          clearInterval(timer);
          if (badge) { badge.textContent = run.status; badge.className = "badge badge-" + run.status; }
          var live = $("#live-indicator");
          if (live) { live.remove(); }
        }
      }).catch(function () { /* server restarting: try again next tick */ });
    }, 3000);
  }

  function initCharts(data) {
    if (!$("#charts") || !data.keys || !data.keys.length) { return; }
    state.data = { runs: data.runs, keys: data.keys.slice() };
    ["#x-axis", "#log-scale"].forEach(function (sel) { var el = $(sel); if (el) { el.addEventListener("change", drawCharts); } });
    var s = $("#smoothing");
    if (s) {
      s.addEventListener("input", function () { $("#smoothing-value").textContent = s.value; drawCharts(); });
    }
    loadSeries();
    if (data.status === "running" && data.runs.length === 1) { pollLive(data.runs[0].id); }
  }

  // Draw a costly chart (parcoords is WebGL: seconds where the browser has no GPU) only once it
  // scrolls into view, and never before the page has painted, so the page is usable at once.
  function whenVisible(el, draw) {
    var run = function () { requestAnimationFrame(function () { setTimeout(draw, 0); }); };
    if (!("IntersectionObserver" in window)) { run(); return; }
    var io = new IntersectionObserver(function (entries) {
      if (entries.some(function (e) { return e.isIntersecting; })) { io.disconnect(); run(); }
    });
    io.observe(el);
  }

  /* ---------- trials: parallel coordinates and scatter ---------- */
  function isMissing(v) { return v === null || v === undefined; }

  // A parcoords axis for one param. Numbers present in every run: a numeric axis. Anything
  // else (strings, booleans, numbers missing in some runs): a categorical axis with one tick per
  // value and "(none)" last for the runs without it, so every run still draws its line.
  function paramDimension(label, vals) {
    var present = vals.filter(function (v) { return !isMissing(v); });
    var gaps = present.length < vals.length;
    var numbers = present.length > 0 && present.every(function (v) { return typeof v === "number"; });
    if (numbers && !gaps) { return { label: label, values: vals.map(num) }; }
    var cats = Array.from(new Set(present.map(String)));
    cats.sort(numbers ? function (a, b) { return Number(a) - Number(b); } : undefined);
    var text = gaps ? cats.concat(["(none)"]) : cats;
    return { label: label, ticktext: text, tickvals: text.map(function (_, i) { return i; }),
      range: [0, Math.max(1, text.length - 1)],
      values: vals.map(function (v) { return isMissing(v) ? cats.length : cats.indexOf(String(v)); }) };
  }

  // The metric axis; runs that never logged it sit on a "(none)" tick below the lowest value.
  function metricDimension(label, values) {
    var finite = values.filter(function (v) { return isFinite(v); });
    if (finite.length === values.length || !finite.length) { return { label: label, values: values }; }
    var lo = Math.min.apply(null, finite), hi = Math.max.apply(null, finite), span = (hi - lo) || 1;
    var none = lo - span * 0.2, ticks = [none], text = ["(none)"];
    for (var i = 0; i <= 4; i++) { var v = lo + span * i / 4; ticks.push(v); text.push(String(Number(v.toPrecision(3)))); }
    return { label: label, tickvals: ticks, ticktext: text, range: [none, hi],
      values: values.map(function (v) { return isFinite(v) ? v : none; }) };
  }

  function initTrials(t) {
    var pc = document.getElementById("parcoords");
    if (!pc || !t || !t.trials.length) { return; }
    // Every run gets a line; one whose metric was never logged (or is NaN) sits on "(none)".
    var rows = t.trials;
    var dims = t.params.map(function (p) {
      return paramDimension(p, rows.map(function (r) { return r.params[p]; }));
    });
    var metric = rows.map(function (r) { return num(r.value); });
    var line = { color: "#4f46e5" };
    if (t.metric) {
      dims.push(metricDimension(t.metric, metric));
      var colour = dims[dims.length - 1].values;
      line = { color: colour, colorscale: "Viridis", showscale: false };
    }
    whenVisible(pc, function () {
      Plotly.react(pc, [{ type: "parcoords", dimensions: dims, line: line }],
        layout({ margin: { l: 60, r: 60, t: 48, b: 24 } }), CONFIG).then(function () {
        pc.setAttribute("data-lines", String(rows.length));
      });
    });
    var sc = document.getElementById("scatter");
    if (sc) {
      var traces = t.params.map(function (p, i) {
        return { x: rows.map(function (r) { return r.params[p]; }), y: metric, mode: "markers", type: "scatter",
          name: p, text: rows.map(function (r) { return r.name; }), visible: i === 0 ? true : "legendonly",
          marker: { size: 8, color: PALETTE[i % PALETTE.length], opacity: 0.8 } };
      });
      Plotly.react(sc, traces, layout({ title: { text: t.metric + " by param", font: { size: 13 }, x: 0.02 },
        yaxis: { title: { text: t.metric }, gridcolor: "#e2e8f0" } }), CONFIG);
    }
  }

  /* ---------- sweep: best so far, importances ---------- */
  function initSweep(d) {
    var bc = document.getElementById("best-curve");
    if (bc && d.curve) {
      var n = d.curve.map(function (p) { return p.n; });
      Plotly.react(bc, [
        { x: n, y: d.curve.map(function (p) { return num(p.value); }), mode: "markers", name: "trial",
          text: d.curve.map(function (p) { return p.name; }), marker: { color: "#94a3b8", size: 7 } },
        { x: n, y: d.curve.map(function (p) { return num(p.best); }), mode: "lines", line: { shape: "hv", color: "#4f46e5", width: 2.5 }, name: "best so far" }
      ], layout({ xaxis: { title: { text: "trial" }, gridcolor: "#e2e8f0" }, yaxis: { title: { text: d.metric }, gridcolor: "#e2e8f0" } }), CONFIG);
      bc.setAttribute("data-points", String(n.length));
    }
    var im = document.getElementById("importances");
    if (im && d.importances) {
      var keys = Object.keys(d.importances).reverse();
      Plotly.react(im, [{ type: "bar", orientation: "h", x: keys.map(function (k) { return d.importances[k]; }), y: keys,
        marker: { color: "#4f46e5" } }], layout({ showlegend: false, margin: { l: 120, r: 16, t: 16, b: 40 },
          xaxis: { title: { text: "importance (fANOVA)" }, gridcolor: "#e2e8f0" } }), CONFIG);
    }
    initTrials(d.trials);
  }

  function colorChips() {
    $all(".swatch").forEach(function (el) {
      el.style.background = PALETTE[Number(el.getAttribute("data-index")) % PALETTE.length];
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    initSelection();
    colorChips();
    var data = pageData();
    if (!data || typeof Plotly === "undefined") { return; }
    if (data.curve) { initSweep(data); return; }
    initCharts(data);
    initTrials(data.trials);
  });
})();
