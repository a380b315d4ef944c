/* loopml run page: media per step (image strip with a step slider, histograms over steps as a
   heatmap, sortable tables). Data comes from the page's JSON; files from the artifacts API. */
(function () {
  "use strict";

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) { e.textContent = text; }  // text only: captions stay plain text
    return e;
  }

  function slider(n, onChange) {
    var wrap = el("div", { "class": "media-controls" });
    var input = el("input", { type: "range", min: "0", max: String(n - 1), value: String(n - 1), "class": "media-step" });
    var label = el("span", { "class": "muted small media-label" });
    input.addEventListener("input", function () { onChange(Number(input.value), label); });
    wrap.appendChild(input);
    wrap.appendChild(label);
    onChange(n - 1, label);
    return wrap;
  }

  function imageBlock(holder, m, runId) {
    var img = el("img", { "class": "media-image", alt: m.key });
    holder.appendChild(img);
    holder.appendChild(slider(m.steps.length, function (i, label) {
      img.src = "/api/v1/runs/" + encodeURIComponent(runId) + "/artifacts/" + m.files[i].split("/").map(encodeURIComponent).join("/");
      label.textContent = "step " + m.steps[i] + (m.captions[i] ? " · " + m.captions[i] : "");
      holder.setAttribute("data-step", String(m.steps[i]));
    }));
  }

  function histogramBlock(holder, m) {
    // Put every step's counts on one grid of 60 bins over the whole range: a heatmap over steps.
    var lo = Infinity, hi = -Infinity;
    m.edges.forEach(function (e) { lo = Math.min(lo, e[0]); hi = Math.max(hi, e[e.length - 1]); });
    var bins = 60, width = (hi - lo) / bins || 1, centers = [];
    for (var b = 0; b < bins; b++) { centers.push(lo + (b + 0.5) * width); }
    var z = centers.map(function () { return m.steps.map(function () { return 0; }); });
    m.counts.forEach(function (counts, s) {
      counts.forEach(function (c, i) {
        var mid = (m.edges[s][i] + m.edges[s][i + 1]) / 2;
        var row = Math.min(bins - 1, Math.max(0, Math.floor((mid - lo) / width)));
        z[row][s] += c;
      });
    });
    var div = el("div", { "class": "chart media-histogram" });
    holder.appendChild(div);
    Plotly.react(div, [{ type: "heatmap", x: m.steps, y: centers, z: z, colorscale: "Blues", reversescale: true,
      hovertemplate: "step %{x}<br>value %{y:.3g}<br>count %{z}<extra></extra>" }],
      { margin: { l: 56, r: 16, t: 28, b: 40 }, height: 280, title: { text: m.key, font: { size: 13 }, x: 0.02 },
        xaxis: { title: { text: "step" } }, yaxis: { title: { text: "value" } }, paper_bgcolor: "rgba(0,0,0,0)" },
      { displaylogo: false, responsive: true });
  }

  function tableBlock(holder, m) {
    var wrap = el("div", { "class": "table-wrap media-table" });
    var sort = { col: -1, desc: false };
    function draw(i) {
      var t = m.tables[i], rows = t.rows.slice();
      if (sort.col >= 0) {
        rows.sort(function (a, b) {
          var x = a[sort.col], y = b[sort.col];
          var r = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
          return sort.desc ? -r : r;
        });
      }
      var table = el("table", { "class": "table compact" }), head = el("tr");
      t.columns.forEach(function (c, ci) {
        var th = el("th", { "class": "sortable", "data-col": String(ci) }, c + (sort.col === ci ? (sort.desc ? " ▼" : " ▲") : ""));
        th.addEventListener("click", function () {
          sort = { col: ci, desc: sort.col === ci ? !sort.desc : false };
          draw(current);
        });
        head.appendChild(th);
      });
      var thead = el("thead"); thead.appendChild(head); table.appendChild(thead);
      var body = el("tbody");
      rows.slice(0, 500).forEach(function (r) {
        var tr = el("tr");
        r.forEach(function (v) { tr.appendChild(el("td", {}, v === null ? "" : String(v))); });
        body.appendChild(tr);
      });
      table.appendChild(body);
      wrap.innerHTML = "";
      wrap.appendChild(table);
    }
    var current = m.tables.length - 1;
    holder.appendChild(wrap);
    holder.appendChild(slider(m.tables.length, function (i, label) {
      current = i;
      label.textContent = "step " + m.steps[i] + (m.captions[i] ? " · " + m.captions[i] : "") + " · " + m.tables[i].rows.length + " rows";
      draw(i);
    }));
  }

  document.addEventListener("DOMContentLoaded", function () {
    var node = document.getElementById("media-data");
    if (!node) { return; }
    var data = JSON.parse(node.textContent);
    data.media.forEach(function (m) {
      var holder = document.querySelector('.media-block[data-key="' + CSS.escape(m.key) + '"] .media-body');
      if (!holder) { return; }
      if (m.kind === "image") { imageBlock(holder, m, data.run); }
      else if (m.kind === "histogram" && typeof Plotly !== "undefined") { histogramBlock(holder, m); }
      else if (m.kind === "table") { tableBlock(holder, m); }
      holder.setAttribute("data-ready", "true");
    });
  });
})();
