import { realRuntime } from "@palf/transport";
import { describe, expect, it } from "vitest";
import { AppendBatcher, type BatchItem } from "./append-batcher.ts";

interface Item extends BatchItem {
  readonly name: string;
}

function harness(
  o: {
    maxInFlight?: number;
    maxInFlightPerGroup?: number;
    maxBatchItems?: number;
    maxBatchBytes?: number;
  } = {},
) {
  const sent: Array<{ group: number; names: string[]; finish: () => void }> = [];
  const expired: string[] = [];
  const b = new AppendBatcher<Item>({
    runtime: realRuntime,
    maxInFlight: o.maxInFlight ?? 10,
    ...(o.maxInFlightPerGroup === undefined ? {} : { maxInFlightPerGroup: o.maxInFlightPerGroup }),
    maxBatchItems: o.maxBatchItems ?? 100,
    maxBatchBytes: o.maxBatchBytes ?? 1 << 20,
    send: (group, batch) =>
      new Promise<void>((finish) => sent.push({ group, names: batch.map((i) => i.name), finish })),
    expired: (i) => expired.push(i.name),
  });
  const item = (group: number, name: string, size = 10, deadline = Number.MAX_SAFE_INTEGER): Item => ({
    group,
    name,
    size,
    deadline,
  });
  const turn = () => new Promise<void>((r) => setImmediate(r));
  return { b, sent, expired, item, turn };
}

describe("AppendBatcher", () => {
  it("sends what one turn queued as one batch per group", async () => {
    const { b, sent, item, turn } = harness();
    for (const n of ["a", "b", "c"]) b.enqueue(item(1, n));
    b.enqueue(item(2, "x"));
    expect(sent).toHaveLength(0);
    await turn();
    expect(sent.map((s) => [s.group, s.names])).toEqual([
      [1, ["a", "b", "c"]],
      [2, ["x"]],
    ]);
  });

  it("sends a full batch at once", () => {
    const { b, sent, item } = harness({ maxBatchItems: 2 });
    b.enqueue(item(1, "a"));
    b.enqueue(item(1, "b"));
    expect(sent.map((s) => s.names)).toEqual([["a", "b"]]);
  });

  it("holds batches beyond maxInFlight until a request finishes, then takes groups in turn", async () => {
    const { b, sent, item, turn } = harness({ maxInFlight: 1, maxBatchItems: 2 });
    for (const n of ["a1", "a2", "a3", "a4", "a5", "a6"]) b.enqueue(item(1, n));
    b.enqueue(item(2, "b1"));
    await turn();
    expect(sent.map((s) => s.names)).toEqual([["a1", "a2"]]);
    expect(b.queued.items).toBe(5);
    for (let i = 0; i < 3; i++) {
      expect(b.inFlightCount).toBe(1);
      sent[i]!.finish();
      await turn();
    }
    // Group 1 queued its second batch before group 2 queued, then went to the back of the line.
    expect(sent.map((s) => s.names)).toEqual([["a1", "a2"], ["a3", "a4"], ["b1"], ["a5", "a6"]]);
  });

  it("keeps one request in flight per group with maxInFlightPerGroup 1, and honours holds", async () => {
    const { b, sent, item, turn } = harness({ maxInFlightPerGroup: 1 });
    b.enqueue(item(1, "a"));
    await turn();
    b.enqueue(item(1, "b"));
    b.enqueue(item(2, "x"));
    await turn();
    expect(sent.map((s) => s.names)).toEqual([["a"], ["x"]]);
    b.hold(1); // a retry of "a" backing off
    sent[0]!.finish();
    await turn();
    expect(sent).toHaveLength(2);
    b.requeue([item(1, "a")]);
    b.release(1);
    await turn();
    expect(sent.map((s) => s.names)).toEqual([["a"], ["x"], ["a", "b"]]);
  });

  it("a fenced group sends nothing, whatever its in-flight limit, until unfenced; then the requeued retry goes first", async () => {
    const { b, sent, item, turn } = harness();
    b.fence(1); // "a" may have been applied and waits for its backoff
    b.enqueue(item(1, "b"));
    b.enqueue(item(2, "x"));
    await turn();
    expect(sent.map((s) => s.names)).toEqual([["x"]]);
    b.requeue([item(1, "a")]);
    b.unfence(1);
    await turn();
    expect(sent.map((s) => s.names)).toEqual([["x"], ["a", "b"]]);
  });

  it("puts retries in front and drops expired items", async () => {
    const { b, sent, expired, item, turn } = harness();
    b.enqueue(item(1, "new"));
    b.requeue([item(1, "retry")]);
    b.enqueue(item(1, "old", 10, 0));
    await turn();
    expect(sent[0]!.names).toEqual(["retry", "new"]);
    expect(expired).toEqual(["old"]);
  });

  it("close returns what was queued", async () => {
    const { b, sent, item, turn } = harness();
    b.enqueue(item(1, "a"));
    expect(b.close().map((i) => i.name)).toEqual(["a"]);
    await turn();
    expect(sent).toHaveLength(0);
  });
});
