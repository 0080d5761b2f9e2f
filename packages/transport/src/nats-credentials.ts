import { readFileSync } from "node:fs";

/**
 * NATS user/password or token credentials read from files, so no secret is ever on a command line (where
 * `ps` and shell history show it). Which credentials each role needs is in docker/README.md: nodes publish
 * peer frames only in their own name, clients send appends, reads and timestamps, admins also admin requests.
 */
export interface CredentialFiles {
  readonly user?: string;
  /** File holding the password of `user` (one line; a trailing newline is ignored). */
  readonly passFile?: string;
  /** File holding a token. */
  readonly tokenFile?: string;
}

/** The `connection` fields for NATS from credential files; throws naming the file it cannot read. */
export function credentialsFromFiles(o: CredentialFiles): { user?: string; pass?: string; token?: string } {
  const out: { user?: string; pass?: string; token?: string } = {};
  if (o.user !== undefined) out.user = o.user;
  if (o.passFile !== undefined) {
    if (o.user === undefined) throw new Error("a password file needs a user");
    out.pass = readSecret(o.passFile);
  }
  if (o.tokenFile !== undefined) out.token = readSecret(o.tokenFile);
  return out;
}

function readSecret(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(`cannot read the secret file ${file}: ${(e as Error).message}`);
  }
  const secret = text.replace(/\r?\n$/, "");
  if (secret.length === 0) throw new Error(`the secret file ${file} is empty`);
  return secret;
}
