import { KvError } from "./kv-error.ts";

/** Size bounds of the store: a request over them is refused before anything is appended. */
export interface KvLimits {
  /** UTF-8 bytes of one key at most. */
  readonly maxKeyBytes: number;
  /** Bytes of one value at most (UTF-8 bytes for a string). */
  readonly maxValueBytes: number;
  /** Keys one transaction may write at most. */
  readonly maxKeysPerTxn: number;
}

// A prepare record must fit one append (the client cuts appends below ~1 MB); these bounds keep the
// largest legal prepare (keys x (key + value)) far below that only together with maxTxnBytes.
export const DEFAULT_LIMITS: KvLimits = { maxKeyBytes: 1024, maxValueBytes: 64 * 1024, maxKeysPerTxn: 1000 };

/** Largest sum of key and value bytes one prepare record may carry (it is one PALF append). */
export const MAX_PREPARE_BYTES = 512 * 1024;

/** A key or value as the store holds it. */
export type KvValue = string | Uint8Array;

export function byteLength(v: KvValue): number {
  return typeof v === "string" ? Buffer.byteLength(v, "utf8") : v.byteLength;
}

/** Throws BAD_REQUEST unless `key` is a non-empty string within the key limit. */
export function checkKey(key: unknown, limits: KvLimits): string {
  if (typeof key !== "string" || key.length === 0)
    throw new KvError("BAD_REQUEST", `a key must be a non-empty string, got ${describe(key)}`);
  const n = Buffer.byteLength(key, "utf8");
  if (n > limits.maxKeyBytes)
    throw new KvError("BAD_REQUEST", `key of ${n} bytes is over the limit of ${limits.maxKeyBytes}`, {
      key: key.slice(0, 64),
    });
  return key;
}

/** Throws BAD_REQUEST unless `value` is a string or bytes within the value limit. */
export function checkValue(key: string, value: unknown, limits: KvLimits): KvValue {
  if (typeof value !== "string" && !(value instanceof Uint8Array))
    throw new KvError(
      "BAD_REQUEST",
      `the value of ${key} must be a string or a Uint8Array, got ${describe(value)}`,
      {
        key,
      },
    );
  const n = byteLength(value);
  if (n > limits.maxValueBytes)
    throw new KvError(
      "BAD_REQUEST",
      `the value of ${key} has ${n} bytes, over the limit of ${limits.maxValueBytes}`,
      {
        key,
      },
    );
  return value;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (v instanceof Uint8Array) return "bytes";
  return typeof v;
}
