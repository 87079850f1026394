// Runs the built Worker (build/index.js + wasm) on workerd through Miniflare, configured
// from wrangler.toml (main, compatibility date, Durable Object bindings, vars), with
// the vars and secrets a test gives in the environment: PORT, ORIGIN_URL, UPSTREAM_URL,
// EDGE_SECRET, RECORD_REFRESH_SECONDS, USAGE_FLUSH_SECONDS. Prints "ready <url>" once
// it serves; stops on SIGTERM or when stdin closes (the test process ended).
//
// With BENCH_PASSTHROUGH=1 it serves bench/passthrough.mjs instead: a bare Worker
// forwarding to UPSTREAM_URL, the benchmark's baseline.
import { Miniflare, convertV4MiniflareOptions } from "miniflare";
import { unstable_readConfig } from "wrangler";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const config = unstable_readConfig({ config: path.join(root, "wrangler.toml") });
const overrides = ["ORIGIN_URL", "UPSTREAM_URL", "RECORD_REFRESH_SECONDS", "USAGE_FLUSH_SECONDS"];
const bindings = { ...config.vars };
for (const name of overrides) {
  if (process.env[name]) bindings[name] = process.env[name];
}
bindings.EDGE_SECRET = process.env.EDGE_SECRET ?? "";

const worker =
  process.env.BENCH_PASSTHROUGH === "1"
    ? {
        name: "passthrough",
        rootPath: root,
        modules: true,
        scriptPath: path.join("bench", "passthrough.mjs"),
        bindings: { UPSTREAM_URL: bindings.UPSTREAM_URL },
      }
    : {
        name: config.name,
        // The glue imports its wasm as a sibling module.
        rootPath: root,
        modules: [
          { type: "ESModule", path: config.main },
          { type: "CompiledWasm", path: path.join(path.dirname(config.main), "index_bg.wasm") },
        ],
        modulesRoot: path.dirname(config.main),
        durableObjects: Object.fromEntries(config.durable_objects.bindings.map((b) => [b.name, b.class_name])),
        bindings,
      };

// Miniflare 5 takes a new option shape; the v4 shape above is converted as wrangler does.
const mf = new Miniflare(
  convertV4MiniflareOptions({
    workers: [{ ...worker, compatibilityDate: config.compatibility_date }],
    host: "127.0.0.1",
    port: Number(process.env.PORT ?? 0),
  }),
);
const url = await mf.ready;
console.log(`ready ${url}`);

const stop = async () => {
  await mf.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.resume();
