import { readFileSync } from "node:fs";

/** palfctl's version, from its package.json (one place to bump). */
export function palfctlVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}
