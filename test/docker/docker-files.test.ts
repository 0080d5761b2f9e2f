import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const root = fileURLToPath(new URL("../..", import.meta.url));
const compose = parse(fs.readFileSync(path.join(root, "docker/compose.yaml"), "utf8"), { merge: true }) as {
  services: Record<
    string,
    { command?: string[]; build?: { context: string; dockerfile: string }; image?: string }
  >;
};

describe("docker files (checked without a Docker engine)", () => {
  it("the compose file runs nats and three palfd nodes with distinct ids and data dirs", () => {
    expect(Object.keys(compose.services).sort()).toEqual(["n1", "n2", "n3", "nats"]);
    const ids = ["n1", "n2", "n3"].map((n) => {
      const cmd = compose.services[n]!.command!;
      return {
        node: cmd[cmd.indexOf("--node") + 1],
        data: cmd[cmd.indexOf("--data") + 1],
        nats: cmd[cmd.indexOf("--nats") + 1],
      };
    });
    expect(new Set(ids.map((i) => i.node)).size).toBe(3);
    expect(new Set(ids.map((i) => i.data)).size).toBe(3);
    for (const i of ids) expect(i.nats).toBe("nats://nats:4222");
  });

  it("every flag the compose file passes is one palfd accepts, and the build paths exist", () => {
    const help = spawnSync("node", ["--import", "tsx", "apps/palfd/src/main.ts", "--help"], {
      cwd: root,
      encoding: "utf8",
    });
    expect(help.status).toBe(0);
    for (const n of ["n1", "n2", "n3"]) {
      const svc = compose.services[n]!;
      for (const flag of svc.command!.filter((a) => a.startsWith("--"))) expect(help.stdout).toContain(flag);
      const dockerfile = path.join(root, "docker", svc.build!.context, svc.build!.dockerfile);
      expect(fs.existsSync(dockerfile)).toBe(true);
    }
    const dockerfile = fs.readFileSync(path.join(root, "docker/Dockerfile"), "utf8");
    const entry = /ENTRYPOINT \[(.*)\]/
      .exec(dockerfile)![1]!
      .split(",")
      .map((s) => JSON.parse(s.trim()) as string);
    expect(fs.existsSync(path.join(root, entry.at(-1)!))).toBe(true);
  });
});
