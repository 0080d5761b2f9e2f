// Test-only: the NATS accounts of docker/nats-roles.conf for a local cluster: random passwords written
// to files (palfd reads them with --pass-file), handed to the nats-server through its environment.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROLES_CONF = fileURLToPath(new URL("../../docker/nats-roles.conf", import.meta.url));

export interface Roles {
  readonly dir: string;
  /** The password of each user (n1, n2, n3, client, admin). */
  readonly pass: Readonly<Record<string, string>>;
  /** The file holding each user's password. */
  readonly passFile: (user: string) => string;
  /** The nats-server environment the config reads its passwords from. */
  readonly env: Readonly<Record<string, string>>;
  remove(): void;
}

export function makeRoles(): Roles {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "palf-roles-"));
  const pass: Record<string, string> = {};
  const env: Record<string, string> = {};
  for (const user of ["n1", "n2", "n3", "client", "admin"]) {
    // nats-server parses an environment value as a config value: one starting with a digit is a number.
    pass[user] = `pw-${randomBytes(12).toString("hex")}`;
    fs.writeFileSync(path.join(dir, user), `${pass[user]}\n`, { mode: 0o600 });
    env[`PALF_${user.toUpperCase()}_PASSWORD`] = pass[user]!;
  }
  return {
    dir,
    pass,
    passFile: (user) => path.join(dir, user),
    env,
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
