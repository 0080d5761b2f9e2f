// A WAL's room (what replicas reserve before they assign LSNs): reservations stay within the budget minus
// the headroom (control entries may use the headroom), are held in the WAL so every budget check counts
// them, and end when their records are submitted.
import { afterEach, describe, expect, it } from "vitest";
import { openShardWal, type ShardWal } from "./shard-wal.ts";
import { removeDir, tempDir } from "./wal-model.test-support.ts";
import { defaultHeadroom } from "./wal-space.ts";

const SEGMENT = 8192;
const BUDGET = 6 * SEGMENT;
const dirs: string[] = [];
const wals: ShardWal[] = [];

afterEach(async () => {
  for (const w of wals.splice(0)) await w.close().catch(() => {});
  for (const d of dirs.splice(0)) removeDir(d);
});

async function freshWal(): Promise<ShardWal> {
  const dir = tempDir();
  dirs.push(dir);
  const wal = await openShardWal(dir, { segmentBytes: SEGMENT, diskBudgetBytes: BUDGET });
  wals.push(wal);
  return wal;
}

describe("ShardWalSpace", () => {
  it("reserves entries up to the budget minus the headroom, control entries into it, and ends reservations at submit", async () => {
    const wal = await freshWal();
    const space = wal.room(BUDGET);
    const room = BUDGET - defaultHeadroom(BUDGET) - wal.projectedBytes(0);
    let reserved = 0;
    while (space.reserve(1000, false)) reserved += 1000;
    expect(reserved).toBeGreaterThan(room - 1000);
    expect(reserved).toBeLessThanOrEqual(room);
    expect(wal.heldBytes).toBe(reserved);
    expect(space.takeRefused()).toBe(1);
    expect(space.takeRefused()).toBe(0);
    // The headroom is for records that are never refused and for config and StartWorking entries.
    expect(space.reserve(1000, true)).toBe(true);
    reserved += 1000;
    // The host persists part of what was reserved (an entry of 900 log bytes): submitting ends that part.
    space.queued({ kind: "entry", group: 1, lsn: 0, end: 900, pid: 1, bytes: new Uint8Array(836) });
    space.queued({ kind: "meta", group: 1, bytes: new Uint8Array(16) });
    space.submitting();
    expect(wal.heldBytes).toBe(reserved - 900);
    space.release(100);
    expect(wal.heldBytes).toBe(reserved - 1000);
  });
});
