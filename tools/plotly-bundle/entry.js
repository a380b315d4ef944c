// loopml's partial Plotly.js bundle: only the trace types the dashboard draws.
var Plotly = require('plotly.js/lib/core');
Plotly.register([
    require('plotly.js/lib/bar'),
    require('plotly.js/lib/heatmap'),
    require('plotly.js/lib/parcoords'),
]);
module.exports = Plotly;
