// Build the dashboard's partial Plotly.js bundle (see README.md here). Same esbuild settings as
// plotly.js's own esbuild-config.js, with entry.js listing the trace types.
const path = require('path');
const fs = require('fs');
const esbuild = require('esbuild');
const { environmentPlugin } = require('esbuild-plugin-environment');
const { glsl } = require('esbuild-plugin-glsl');
const InlineCSSPlugin = require('esbuild-plugin-inline-css');

const out = path.join(__dirname, '..', '..', 'src', 'loopml', 'server', 'static', 'plotly-loopml.min.js');
const version = require('plotly.js/package.json').version;
const banner = `/* plotly.js v${version} (MIT license, see plotly.LICENSE.txt), partial bundle for loopml:` +
  ' scatter, bar, heatmap, parcoords. Built by tools/plotly-bundle (npm install && npm run build). */';

esbuild.build({
  entryPoints: [path.join(__dirname, 'entry.js')], outfile: out, format: 'iife', globalName: 'Plotly',
  bundle: true, minify: true, sourcemap: false, legalComments: 'none', banner: { js: banner },
  plugins: [InlineCSSPlugin(), glsl({ minify: true }), environmentPlugin({ NODE_DEBUG: false })],
  alias: { regl: '@plotly/regl', stream: 'stream-browserify' },
  define: { global: 'window', 'define.amd': 'false' }, target: 'es2016', logLevel: 'warning',
  nodePaths: [path.join(__dirname, 'node_modules', 'plotly.js', 'node_modules'), path.join(__dirname, 'node_modules')],
}).then(() => {
  fs.copyFileSync(require.resolve('plotly.js/LICENSE'), path.join(path.dirname(out), 'plotly.LICENSE.txt'));
  console.log(`wrote ${out} (${fs.statSync(out).size} bytes)`);
}).catch((e) => { console.error(e); process.exit(1); });
