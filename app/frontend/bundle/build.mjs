// Bundle src/tracing.js (and the pinned packages of package-lock.json) into one script for the page.
//
//   node build.mjs [--outdir DIR]     (default: ../html, next to index.html)
//
// Writes otel-web.js (minified IIFE, no source map, nothing loaded at run time) and
// otel-web.LICENSES.txt (the name, version and licence of every package inside it). The output
// depends only on the lock file and this directory: esbuild is pinned, so any Node that runs it
// gives the same bytes. Exits 1 with esbuild's message when the bundle cannot be built.
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const at = args.indexOf("--outdir");
const outdir = resolve(at >= 0 && args[at + 1] ? args[at + 1] : join(here, "..", "html"));
const version = JSON.parse(readFileSync(join(here, "package.json"), "utf8")).version;

function packagesOf(metafile) {
  const found = new Map();
  for (const input of Object.keys(metafile.inputs)) {
    const match = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
    if (!match || found.has(match[1])) continue;
    const meta = JSON.parse(readFileSync(join(here, "node_modules", match[1], "package.json"), "utf8"));
    found.set(match[1], `${meta.name} ${meta.version} (${meta.license || "see the package"})`);
  }
  return [...found.values()].sort();
}

try {
  mkdirSync(outdir, { recursive: true });
  const result = await esbuild.build({
    absWorkingDir: here,
    entryPoints: ["src/tracing.js"],
    outfile: join(outdir, "otel-web.js"),
    bundle: true,
    format: "iife",
    platform: "browser",
    target: ["es2020"],
    minify: true,
    legalComments: "none",
    sourcemap: false,
    metafile: true,
    logLevel: "warning",
    banner: { js: `/* otel-web.js ${version}: OpenTelemetry web SDK for the lab's page; licences: otel-web.LICENSES.txt */` },
  });
  const notice = [
    `otel-web.js ${version} bundles these packages (from package-lock.json):`,
    ...packagesOf(result.metafile).map((line) => `  ${line}`),
    "",
  ].join("\n");
  writeFileSync(join(outdir, "otel-web.LICENSES.txt"), notice);
  const bytes = result.metafile.outputs[Object.keys(result.metafile.outputs)[0]].bytes;
  console.log(`${join(outdir, "otel-web.js")}: ${bytes} bytes`);
} catch (error) {
  console.error(`otel-web.js could not be built: ${error.message}`);
  process.exit(1);
}
