import { Prng } from "@palf/core";
import { type Kv, KvError } from "@palf/kv";

/** One micro-operation as the Elle-style checker reads it. */
export type ListMop =
  | { readonly f: "append"; readonly key: string; readonly value: number }
  | { readonly f: "r"; readonly key: string; readonly value: readonly number[] | null };

/** One transaction of the history (the shape @palf/testkit's checkListAppend takes). */
export interface ListTxn {
  readonly txnId: string;
  readonly process: number;
  readonly invokeMs: number;
  readonly completeMs?: number;
  readonly status: "ok" | "fail" | "info";
  readonly ops: readonly ListMop[];
}

export interface ListAppendOptions {
  readonly kv: Kv;
  readonly keys: number;
  readonly concurrency: number;
  readonly done: () => boolean;
  readonly seed?: number;
  readonly onCommit?: () => void;
}

/**
 * The list-append workload: each transaction does 1-4 reads or appends of unique values on random lists
 * (a list is stored as its values joined by commas), recording what it read, for the Elle-style check.
 */
export async function runListAppend(
  o: ListAppendOptions,
): Promise<{ history: ListTxn[]; latenciesMs: number[] }> {
  const history: ListTxn[] = [];
  const latenciesMs: number[] = [];
  let nextValue = 1;
  const worker = async (w: number) => {
    const rnd = new Prng((o.seed ?? 1) * 7919 + w);
    while (!o.done()) {
      const plan = Array.from({ length: rnd.int(1, 5) }, () => ({
        key: `list-${rnd.int(0, o.keys)}`,
        append: rnd.chance(0.5),
      }));
      const values = plan.map((p) => (p.append ? nextValue++ : 0));
      let ops: ListMop[] = [];
      const invokeMs = performance.now();
      let txnId = "";
      try {
        const r = await o.kv.transact(async (tx) => {
          ops = [];
          for (let i = 0; i < plan.length; i++) {
            const { key, append } = plan[i]!;
            const cur = (await tx.get(key)) as string | null;
            const list = cur === null || cur === "" ? [] : cur.split(",").map(Number);
            if (append) {
              tx.put(key, [...list, values[i]!].join(","));
              ops.push({ f: "append", key, value: values[i]! });
            } else ops.push({ f: "r", key, value: cur === null ? null : list });
          }
        });
        txnId = r.txnId;
        const completeMs = performance.now();
        latenciesMs.push(completeMs - invokeMs);
        history.push({ txnId, process: w, invokeMs, completeMs, status: "ok", ops });
        o.onCommit?.();
      } catch (e) {
        const code = e instanceof KvError ? e.code : "";
        const id = `${w}-${history.length}-failed`;
        // A transaction that surely did not commit is "fail"; one whose fate is unknown is "info".
        const status = code === "CONFLICT" || code === "ABORTED" || code === "BAD_REQUEST" ? "fail" : "info";
        history.push({
          txnId: txnId || id,
          process: w,
          invokeMs,
          ...(status === "fail" ? { completeMs: performance.now() } : {}),
          status,
          ops: plan.map((p, i) =>
            p.append ? { f: "append", key: p.key, value: values[i]! } : { f: "r", key: p.key, value: null },
          ),
        });
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, (_, w) => worker(w)));
  return { history, latenciesMs };
}
