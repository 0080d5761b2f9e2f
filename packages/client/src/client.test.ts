import { afterEach, describe, expect, it } from "vitest";
import { type ConnectOptions, connect, type PalfClient, PalfError } from "./index.ts";
import { FakeCluster } from "./testing.ts";

const str = (b: Uint8Array) => new TextDecoder().decode(b);

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const c of open.splice(0).reverse()) await c.close();
});

async function setup(
  o: Partial<ConnectOptions> = {},
  nodes: readonly string[] = ["n1", "n2", "n3"],
): Promise<{ cluster: FakeCluster; client: PalfClient }> {
  const cluster = new FakeCluster({ nodes });
  open.push(cluster);
  const client = await connect({
    cluster: "palf",
    nodes,
    transport: cluster.clientTransport(),
    backoff: { initialMs: 1, maxMs: 4 },
    ...o,
  });
  open.push(client);
  return { cluster, client };
}

/** Lets batches queued this turn go out, then waits until the bus has delivered everything. */
async function quiet(cluster: FakeCluster): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  await cluster.settled();
}

async function rejection(p: Promise<unknown>): Promise<PalfError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(PalfError);
    return e as PalfError;
  }
  throw new Error("expected a rejection");
}

describe("appends", () => {
  it("batches appends issued in one tick into one request", async () => {
    const { cluster, client } = await setup();
    cluster.addGroup(1, ["n1", "n2", "n3"], "n1");
    const g = client.group(1);
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => g.append(`e${i}`)));
    const appends = cluster.requestsOf("append");
    expect(appends).toHaveLength(1);
    expect(appends[0]!.request.items).toHaveLength(100);
    // Results come back in order, LSNs and CSNs strictly grow.
    for (let i = 1; i < results.length; i++) {
      expect(results[i]!.lsn).toBeGreaterThan(results[i - 1]!.lsn);
      expect(results[i]!.csn).toBeGreaterThan(results[i - 1]!.csn);
    }
    expect(cluster.log(1).map((e) => str(e.payload))).toEqual(results.map((_, i) => `e${i}`));
  });

  it("cuts batches at maxBatchItems and maxBatchBytes", async () => {
    const { cluster, client } = await setup({ maxBatchItems: 4, maxBatchBytes: 1000 });
    cluster.addGroup(1, ["n1"], "n1");
    cluster.addGroup(2, ["n1"], "n1");
    await Promise.all(Array.from({ length: 10 }, (_, i) => client.group(1).append(`x${i}`)));
    expect(cluster.requestsOf("append").map((r) => r.request.items.length)).toEqual([4, 4, 2]);
    cluster.requests.length = 0;
    const big = new Uint8Array(400);
    await Promise.all([1, 2, 3].map(() => client.group(2).append(big)));
    expect(cluster.requestsOf("append").map((r) => r.request.items.length)).toEqual([2, 1]);
  });

  it("sends one request per group, each to its own leader", async () => {
    const { cluster, client } = await setup();
    cluster.addGroup(1, ["n1", "n2", "n3"], "n1");
    cluster.addGroup(2, ["n1", "n2", "n3"], "n2");
    cluster.setLeader(2, "n2");
    await cluster.settled();
    await Promise.all([
      client.group(1).append("a"),
      client.group(2).append("b"),
      client.group(1).append("c"),
    ]);
    const appends = cluster.requestsOf("append");
    expect(appends.map((r) => [r.node, r.request.group, r.request.items.length])).toEqual([
      ["n1", 1, 2],
      ["n2", 2, 1],
    ]);
  });

  it("follows a NOT_LEADER hint to the leader and remembers it", async () => {
    const { cluster, client } = await setup();
    cluster.addGroup(5, ["n1", "n2", "n3"], "n3");
    expect(client.leaderOf(5)).toBeUndefined();
    const r = await client.group(5).append("hello");
    expect(r).toEqual({ lsn: 0, csn: 1 });
    expect(cluster.requestsOf("append").map((x) => x.node)).toEqual(["n1", "n3"]);
    expect(client.leaderOf(5)).toBe("n3");
    await client.group(5).append("again");
    expect(cluster.requestsOf("append").map((x) => x.node)).toEqual(["n1", "n3", "n3"]);
  });

  it("walks the seed list when nodes know no leader", async () => {
    const { cluster, client } = await setup();
    cluster.addGroup(5, ["n1", "n2", "n3"], "n3");
    cluster.node("n1").hideLeader = true;
    cluster.node("n2").hideLeader = true;
    await client.group(5).append("x");
    expect(cluster.requestsOf("append").map((x) => x.node)).toEqual(["n1", "n2", "n3"]);
  });

  it("skips seed nodes that are not running", async () => {
    const { cluster, client } = await setup({}, ["n1", "n2"]);
    cluster.addGroup(5, ["n1", "n2"], "n2");
    const c2 = await connect({
      cluster: "palf",
      nodes: ["gone", "n2"],
      transport: cluster.clientTransport("client-two"),
      backoff: { initialMs: 1, maxMs: 2 },
    });
    open.push(c2);
    expect(await c2.group(5).append("x")).toEqual({ lsn: 0, csn: 1 });
    expect(client.leaderOf(5)).toBeUndefined();
  });

  it("learns leaders from leadership events, ignoring stale ones", async () => {
    const { cluster, client } = await setup();
    cluster.addGroup(9, ["n1", "n2", "n3"]);
    const pid = cluster.setLeader(9, "n2");
    await cluster.settled();
    expect(client.leaderOf(9)).toBe("n2");
    cluster.publishLeader([{ group: 9, leader: "n1", pid: pid - 1 }]);
    await cluster.settled();
    expect(client.leaderOf(9)).toBe("n2");
    await client.group(9).append("x");
    expect(cluster.requestsOf("append").map((x) => x.node)).toEqual(["n2"]);
    cluster.setLeader(9, "n3");
    await cluster.settled();
    expect(client.leaderOf(9)).toBe("n3");
  });

  it("retries with the same (session, seq) after NOT_LEADER", async () => {
    const { cluster, client } = await setup();
    cluster.addGroup(1, ["n1", "n2", "n3"], "n2");
    await Promise.all([client.group(1).append("a"), client.group(1).append("b")]);
    const [first, second] = cluster.requestsOf("append");
    expect(first!.node).toBe("n1");
    expect(second!.node).toBe("n2");
    expect(second!.request.items.map((i) => i.session)).toEqual(first!.request.items.map((i) => i.session));
    const seqs = first!.request.items.map((i) => i.session!.seq);
    expect(new Set(seqs).size).toBe(2);
    expect(first!.request.items.every((i) => i.session!.id === client.sessionId)).toBe(true);
    expect(client.sessionId).toBeLessThan(2 ** 48);
  });

  it("retries a lost reply with the same (session, seq), and the leader does not append twice", async () => {
    const { cluster, client } = await setup({ requestTimeoutMs: 40 });
    cluster.addGroup(1, ["n1", "n2", "n3"], "n1");
    cluster.setLeader(1, "n1");
    await cluster.settled();
    cluster.node("n1").loseReplies = 1;
    const r = await client.group(1).append("once");
    expect(r).toEqual({ lsn: 0, csn: 1 });
    expect(cluster.log(1)).toHaveLength(1);
    expect(cluster.duplicates(1)).toBe(1);
    const sessions = cluster.requestsOf("append").map((x) => x.request.items[0]!.session);
    expect(sessions.length).toBeGreaterThanOrEqual(2);
    expect(new Set(sessions.map((s) => `${s!.id}/${s!.seq}`)).size).toBe(1);
  });

  it("retries TIMEOUT, BUSY and BACKPRESSURE answers on the same (session, seq)", async () => {
    const { cluster, client } = await setup();
    cluster.addGroup(1, ["n1"], "n1");
    const codes = ["TIMEOUT", "BUSY", "BACKPRESSURE"] as const;
    let n = 0;
    cluster.node("n1").intercept = (req) => {
      if (req.op !== "append" || n >= codes.length) return undefined;
      return { ok: true, op: "append", results: req.items.map(() => ({ error: { code: codes[n++]! } })) };
    };
    expect(await client.group(1).append("x")).toEqual({ lsn: 0, csn: 1 });
    const sent = cluster.requestsOf("append");
    expect(sent).toHaveLength(4);
    expect(new Set(sent.map((s) => s.request.items[0]!.session!.seq)).size).toBe(1);
  });

  it("an append whose answer cannot be read is retried on the same (session, seq), never reported failed", async () => {
    const { cluster, client } = await setup();
    cluster.addGroup(1, ["n1", "n2", "n3"], "n1");
    let garbled = 0;
    cluster.node("n1").intercept = (req) => {
      if (req.op !== "append" || garbled > 0) return undefined;
      garbled++;
      return "garbleReply";
    };
    // The first attempt was applied; the retry finds it by its session and gets the original result.
    expect(await client.group(1).append("x")).toEqual({ lsn: 0, csn: 1 });
    expect(garbled).toBe(1);
    const sent = cluster.requestsOf("append");
    expect(sent.length).toBeGreaterThanOrEqual(2);
    expect(new Set(sent.map((s) => s.request.items[0]!.session!.seq)).size).toBe(1);
    expect(cluster.log(1).map((e) => str(e.payload))).toEqual(["x"]);
    // The leader recognised the retry by its session instead of appending it again.
    expect(cluster.duplicates(1)).toBe(1);
  });

  it("marks a resend as a retry only once an attempt's outcome is unknown (TIMEOUT), not after BUSY", async () => {
    const { cluster, client } = await setup();
    cluster.addGroup(1, ["n1"], "n1");
    const codes = ["BUSY", "TIMEOUT", "BUSY"] as const;
    let n = 0;
    cluster.node("n1").intercept = (req) => {
      if (req.op !== "append" || n >= codes.length) return undefined;
      return { ok: true, op: "append", results: req.items.map(() => ({ error: { code: codes[n++]! } })) };
    };
    await client.group(1).append("x");
    // A leader that cannot find a marked retry in a recycled log answers INDETERMINATE instead of appending.
    expect(cluster.requestsOf("append").map((s) => s.request.items[0]!.retry === true)).toEqual([
      false,
      false,
      true,
      true,
    ]);
  });

  it("with maxInFlightPerGroup 1, a retry is never overtaken by a later append of its group", async () => {
    for (const perGroup of [1, undefined]) {
      const { cluster, client } = await setup(
        perGroup === undefined ? {} : { maxInFlightPerGroup: perGroup },
      );
      cluster.addGroup(1, ["n1"], "n1");
      let later: Promise<unknown> | undefined;
      cluster.node("n1").intercept = (req) => {
        if (req.op !== "append" || later !== undefined) return undefined;
        later = client.group(1).append("B"); // issued while A is in flight
        return { ok: true, op: "append", results: [{ error: { code: "BUSY" } }] };
      };
      await client.group(1).append("A");
      await later;
      const seqs = cluster.requestsOf("append").map((r) => r.request.items.map((i) => i.session!.seq));
      const [a, b] = [seqs[0]![0]!, seqs[0]![0]! + 1];
      if (perGroup === 1) expect(seqs).toEqual([[a], [a, b]]);
      else expect(seqs).toEqual([[a], [b], [a]]);
    }
  });

  it("after an unknown outcome, later appends of the group wait for the retry (the leader's seq window cannot be overrun)", async () => {
    const { cluster, client } = await setup({ backoff: { initialMs: 200, maxMs: 200 } });
    cluster.addGroup(1, ["n1"], "n1");
    let later: Promise<unknown>[] = [];
    let first = true;
    cluster.node("n1").intercept = (req) => {
      if (req.op !== "append" || !first) return undefined;
      first = false;
      // A's outcome is unknown (TIMEOUT); while its retry backs off (100-200 ms), 20 later appends arrive.
      setTimeout(() => {
        later = Array.from({ length: 20 }, (_, i) => client.group(1).append(`B${i}`));
      }, 20);
      return { ok: true, op: "append", results: req.items.map(() => ({ error: { code: "TIMEOUT" } })) };
    };
    await client.group(1).append("A");
    await Promise.all(later);
    expect(later).toHaveLength(20);
    const seqs = cluster.requestsOf("append").map((r) => r.request.items.map((i) => i.session!.seq));
    const a = seqs[0]![0]!;
    // The retry is the next request, with the later appends behind it.
    expect(seqs.slice(1).flat()).toEqual(Array.from({ length: 21 }, (_, i) => a + i));
    expect(cluster.log(1)).toHaveLength(21);
  });

  it("does not retry FAILED or TOO_LARGE, and maps each item's own result", async () => {
    const { cluster, client } = await setup();
    cluster.addGroup(1, ["n1"], "n1");
    cluster.node("n1").intercept = (req) => {
      if (req.op !== "append") return undefined;
      return {
        ok: true,
        op: "append",
        results: [
          { lsn: 0, csn: 7 },
          { error: { code: "FAILED", message: "truncated by pid 3" } },
          { error: { code: "TOO_LARGE" } },
        ],
      };
    };
    const g = client.group(1);
    const [ok, failed, tooLarge] = await Promise.allSettled([g.append("a"), g.append("b"), g.append("c")]);
    expect(ok).toEqual({ status: "fulfilled", value: { lsn: 0, csn: 7 } });
    const failedError = (failed as PromiseRejectedResult).reason as PalfError;
    expect(failedError).toBeInstanceOf(PalfError);
    expect(failedError.code).toBe("FAILED");
    expect(failedError.message).toContain("truncated by pid 3");
    expect(failedError.group).toBe(1);
    expect(((tooLarge as PromiseRejectedResult).reason as PalfError).code).toBe("TOO_LARGE");
    expect(cluster.requestsOf("append")).toHaveLength(1);
  });

  it("reports INDETERMINATE from the node as is, without retrying", async () => {
    const { cluster, client } = await setup();
    cluster.addGroup(1, ["n1"], "n1");
    cluster.node("n1").intercept = (req) =>
      req.op === "append"
        ? { ok: true, op: "append", results: [{ error: { code: "INDETERMINATE" } }] }
        : undefined;
    expect((await rejection(client.group(1).append("a"))).code).toBe("INDETERMINATE");
    expect(cluster.requestsOf("append")).toHaveLength(1);
  });

  it("refuses payloads above the frame limit without sending them", async () => {
    const { cluster, client } = await setup();
    cluster.addGroup(1, ["n1"], "n1");
    const e = await rejection(client.group(1).append(new Uint8Array(2 * 1024 * 1024)));
    expect(e.code).toBe("TOO_LARGE");
    expect(cluster.requestsOf("append")).toHaveLength(0);
  });

  it("gives up with UNKNOWN_GROUP once every seed node said so", async () => {
    const { cluster, client } = await setup();
    const e = await rejection(client.group(42).append("x"));
    expect(e.code).toBe("UNKNOWN_GROUP");
    expect(cluster.requestsOf("append").map((r) => r.node)).toEqual(["n1", "n2", "n3"]);
  });

  it("reports INDETERMINATE, not UNKNOWN_GROUP, when an attempt may have been applied before every node forgot the group", async () => {
    const { cluster, client } = await setup({ requestTimeoutMs: 40 });
    cluster.addGroup(1, ["n1", "n2", "n3"], "n1");
    cluster.setLeader(1, "n1");
    await cluster.settled();
    // The first attempt is applied but its reply is lost; by the retry the group is gone everywhere.
    cluster.node("n1").loseReplies = 1;
    let appends = 0;
    for (const id of ["n1", "n2", "n3"])
      cluster.node(id).intercept = (req) =>
        req.op === "append" && ++appends > 1
          ? { ok: false, error: { code: "UNKNOWN_GROUP", message: "no replica of group 1 here" } }
          : undefined;
    const e = await rejection(client.group(1).append("x"));
    expect(cluster.log(1)).toHaveLength(1);
    expect(e.code).toBe("INDETERMINATE");
  });

  it("bounds the requests in flight; further appends wait and then go batched", async () => {
    const { cluster, client } = await setup({ maxInFlight: 2, maxBatchItems: 1 });
    cluster.addGroup(1, ["n1"], "n1");
    cluster.node("n1").hold = true;
    const pending = Array.from({ length: 5 }, (_, i) => client.group(1).append(`p${i}`));
    await quiet(cluster);
    expect(cluster.requestsOf("append")).toHaveLength(2);
    expect(client.appendsInFlight).toBe(2);
    cluster.release();
    const results = await Promise.all(pending);
    expect(results.map((r) => r.csn)).toEqual([1, 2, 3, 4, 5]);
    expect(cluster.requestsOf("append")).toHaveLength(5);
    expect(client.appendsInFlight).toBe(0);
  });

  it("keeps batching while the in-flight bound is reached", async () => {
    const { cluster, client } = await setup({ maxInFlight: 1 });
    cluster.addGroup(1, ["n1"], "n1");
    cluster.node("n1").hold = true;
    const first = client.group(1).append("first");
    await quiet(cluster);
    const rest = [1, 2, 3].map((i) => client.group(1).append(`r${i}`));
    await quiet(cluster);
    expect(cluster.requestsOf("append")).toHaveLength(1);
    cluster.release();
    await Promise.all([first, ...rest]);
    expect(cluster.requestsOf("append").map((r) => r.request.items.length)).toEqual([1, 3]);
  });

  it("times out against a node that never answers with a clear INDETERMINATE error", async () => {
    const { cluster, client } = await setup({ requestTimeoutMs: 30, appendTimeoutMs: 300 });
    cluster.addGroup(1, ["n1"], "n1");
    // Every node silent, so whichever attempt the deadline ends on (a loaded machine gets few), its last
    // error is a timeout and not another node's UNKNOWN_GROUP.
    for (const id of ["n1", "n2", "n3"]) cluster.node(id).silent = true;
    const e = await rejection(client.group(1).append("x"));
    expect(e.code).toBe("INDETERMINATE");
    expect(e.group).toBe(1);
    expect(e.message).toMatch(/append to group 1: outcome unknown after \d+ attempts/);
    expect(e.message).toContain("timed out");
    expect(e.attempts).toBeGreaterThanOrEqual(2);
  });

  it("reports NOT_LEADER (not INDETERMINATE) when no attempt can have been applied", async () => {
    const { cluster, client } = await setup({ maxAttempts: 3 });
    cluster.addGroup(1, ["n1", "n2", "n3"]);
    const e = await rejection(client.group(1).append("x"));
    expect(e.code).toBe("NOT_LEADER");
    expect(e.attempts).toBe(3);
  });

  it("close fails appends that were not sent with CLOSED", async () => {
    const { cluster, client } = await setup({ maxInFlight: 1 });
    cluster.addGroup(1, ["n1"], "n1");
    const sent = client.group(1).append("sent");
    await quiet(cluster);
    const waiting = client.group(1).append("queued");
    const closing = client.close();
    expect((await rejection(waiting)).code).toBe("CLOSED");
    await closing;
    expect(await sent).toEqual({ lsn: 0, csn: 1 });
    expect((await rejection(client.group(1).append("late"))).code).toBe("CLOSED");
  });
});

describe("reads", () => {
  it("reads a page and pages through entries up to the committed end", async () => {
    const { cluster, client } = await setup();
    cluster.addGroup(3, ["n1", "n2", "n3"], "n2");
    const written = cluster.appendDirect(3, ...Array.from({ length: 10 }, (_, i) => `v${i}`));
    const page = await client.group(3).read(0, { maxEntries: 4 });
    expect(page.entries.map((e) => str(e.payload))).toEqual(["v0", "v1", "v2", "v3"]);
    expect(page.next).toBe(written[4]!.lsn);
    const all: string[] = [];
    for await (const e of client.group(3).entries(0, { maxEntries: 3 })) all.push(str(e.payload));
    expect(all).toEqual(Array.from({ length: 10 }, (_, i) => `v${i}`));
    // One redirect for the first read, then 4 pages of 3, 3, 3, 1 for entries().
    expect(cluster.requestsOf("read", "n2")).toHaveLength(1 + 4);
    const fromMiddle: number[] = [];
    for await (const e of client.group(3).entries(written[7]!.lsn)) fromMiddle.push(e.csn);
    expect(fromMiddle).toEqual([8, 9, 10]);
  });

  it("ends entries() at once on an empty group", async () => {
    const { cluster, client } = await setup();
    cluster.addGroup(3, ["n1"], "n1");
    const all = [];
    for await (const e of client.group(3).entries()) all.push(e);
    expect(all).toEqual([]);
  });

  it("locates the first entry at or above a CSN", async () => {
    const { cluster, client } = await setup();
    cluster.addGroup(3, ["n1"], "n1");
    await client.group(3).append("a", { refCsn: 100 });
    await client.group(3).append("b", { refCsn: 200 });
    const e = await client.group(3).locate(150);
    expect(e && str(e.payload)).toBe("b");
    expect(e?.csn).toBe(200);
    expect(await client.group(3).locate(201)).toBeNull();
  });

  it("tail follows new commits until aborted", async () => {
    const { cluster, client } = await setup();
    cluster.addGroup(4, ["n1"], "n1");
    cluster.appendDirect(4, "old1", "old2");
    const ac = new AbortController();
    const seen: string[] = [];
    for await (const e of client.group(4).tail(0, { pollMs: 2, signal: ac.signal })) {
      seen.push(str(e.payload));
      if (seen.length === 2) {
        await client.group(4).append("new1");
        cluster.appendDirect(4, "new2");
      }
      if (seen.length === 4) ac.abort();
    }
    expect(seen).toEqual(["old1", "old2", "new1", "new2"]);
  });

  it("a read against silent nodes times out with a clear TIMEOUT error", async () => {
    const { cluster, client } = await setup({ requestTimeoutMs: 20, operationTimeoutMs: 80 });
    cluster.addGroup(3, ["n1"], "n1");
    cluster.setLeader(3, "n1");
    await cluster.settled();
    // Every node silent, so whichever attempt the deadline ends on, the last error is a timeout.
    for (const id of ["n1", "n2", "n3"]) cluster.node(id).silent = true;
    const e = await rejection(client.group(3).read(0));
    expect(e.code).toBe("TIMEOUT");
    expect(e.message).toMatch(
      /^read of group 3 timed out after 80 ms \(\d+ attempts; last error: .*timed out/,
    );
  });
});

describe("admin", () => {
  it("createGroup goes to every member and learner with one incarnation", async () => {
    const { cluster, client } = await setup({}, ["n1", "n2", "n3", "n4"]);
    const r = await client.createGroup(11, ["n1", "n2", "n3"], { learners: ["n4"] });
    expect(r.nodes).toEqual(["n1", "n2", "n3", "n4"]);
    const sent = cluster.requestsOf("createGroup");
    expect(sent.map((s) => s.node).sort()).toEqual(["n1", "n2", "n3", "n4"]);
    expect(new Set(sent.map((s) => s.request.inc))).toEqual(new Set([r.inc]));
    expect(sent[0]!.request.members).toEqual(["n1", "n2", "n3"]);
    expect(sent[0]!.request.learners).toEqual(["n4"]);
    expect(await client.group(11).append("first")).toEqual({ lsn: 0, csn: 1 });
  });

  it("createGroup names the nodes that failed", async () => {
    const { cluster, client } = await setup();
    cluster.node("n2").intercept = () => ({
      ok: false,
      error: { code: "STOPPING", message: "shutting down" },
    });
    const e = await rejection(client.createGroup(12, ["n1", "n2", "n3"]));
    expect(e.code).toBe("STOPPING");
    expect(e.message).toContain("createGroup 12 failed on 1 of 3 nodes (n2: STOPPING");
    await expect(client.createGroup(13, [])).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(client.createGroup(13, ["n1", "n1"])).rejects.toMatchObject({ code: "BAD_REQUEST" });
  });

  it("refuses group ids that are not a uint32 (what the WAL stores) before sending anything", async () => {
    const { client } = await setup();
    for (const g of [2 ** 32, 2 ** 40, Number.MAX_SAFE_INTEGER, -1, 1.5]) {
      expect(() => client.group(g), String(g)).toThrow(/uint32/);
      await expect(client.createGroup(g, ["n1", "n2", "n3"])).rejects.toMatchObject({ code: "BAD_REQUEST" });
    }
    expect(client.group(2 ** 32 - 1).id).toBe(2 ** 32 - 1);
  });

  it("deleteGroup asks every seed node and counts UNKNOWN_GROUP as absent", async () => {
    const { cluster, client } = await setup();
    cluster.addGroup(6, ["n1", "n2"], "n1");
    expect(await client.deleteGroup(6)).toEqual({ group: 6, deleted: ["n1", "n2"], absent: ["n3"] });
  });

  it("status of one node, and of every seed node with errors inline", async () => {
    const { cluster, client } = await setup({ requestTimeoutMs: 20, operationTimeoutMs: 60 });
    cluster.addGroup(1, ["n1", "n2"], "n1");
    expect(await client.status("n1")).toEqual({
      node: "n1",
      groups: [{ group: 1, leader: "n1", role: "leader" }],
    });
    cluster.node("n3").silent = true;
    const all = await client.status();
    expect(all.map((s) => s.node)).toEqual(["n1", "n2", "n3"]);
    expect("status" in all[1]! && all[1].status).toMatchObject({ node: "n2" });
    const third = all[2]!;
    expect("error" in third && third.error.code).toBe("TIMEOUT");
  });

  it("transferLeader goes to the leader, and the leader event moves the cache", async () => {
    const { cluster, client } = await setup();
    cluster.addGroup(2, ["n1", "n2", "n3"], "n2");
    await client.transferLeader(2, "n3");
    expect(cluster.requestsOf("transferLeader").map((r) => r.node)).toEqual(["n1", "n2"]);
    await cluster.settled();
    expect(cluster.leaderOf(2)).toBe("n3");
    expect(client.leaderOf(2)).toBe("n3");
    await expect(client.transferLeader(2, "n9")).rejects.toMatchObject({ code: "BAD_REQUEST" });
  });
});
