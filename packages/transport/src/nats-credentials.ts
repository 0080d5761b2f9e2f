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

/** A secret file that cannot be used: unreadable, empty, or a password without a user. */
export class SecretFileError extends Error {
  override readonly name = "SecretFileError";
}

/**
 * The text of a secret file (password, token, JWT credentials, nkey seed) without the trailing newline an
 * editor or `echo` adds. Throws a SecretFileError naming `label` (the flag that named the file) and the file
 * when it cannot be read or is empty: an empty secret is a mistake, never a credential.
 */
export function readSecretFile(file: string, label = "secret file"): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new SecretFileError(`cannot read ${label} ${file}: ${(e as Error).message}`);
  }
  const secret = text.replace(/\r?\n$/, "");
  if (secret.length === 0) throw new SecretFileError(`${label} ${file} is empty`);
  return secret;
}

/**
 * The `connection` fields for NATS from credential files (named by palfd's, palfctl's and the bench's flags
 * `--pass-file` and `--token-file` in errors); a password without a user is refused, as NATS would.
 */
export function credentialsFromFiles(o: CredentialFiles): { user?: string; pass?: string; token?: string } {
  const out: { user?: string; pass?: string; token?: string } = {};
  if (o.user !== undefined) out.user = o.user;
  if (o.passFile !== undefined) {
    out.pass = readSecretFile(o.passFile, "--pass-file");
    if (o.user === undefined) throw new SecretFileError("--pass-file needs a user (--user)");
  }
  if (o.tokenFile !== undefined) out.token = readSecretFile(o.tokenFile, "--token-file");
  return out;
}
