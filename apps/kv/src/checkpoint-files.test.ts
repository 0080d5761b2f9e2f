import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { encodeRecord, PartitionState } from "@palf/kv";
import { describe, expect, it } from "vitest";
import { loadCheckpoints, saveCheckpoint } from "./checkpoint-files.ts";

describe("store server checkpoint files", () => {
  it("a saved checkpoint restores the same state; one for another map version or a torn file is ignored with a warning", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "palfkv-ckpt-"));
    try {
      const map = { version: 2, scheme: "hash" as const, groups: [5, 6] };
      const s = new PartitionState(0);
      s.apply({
        lsn: 0,
        csn: 10,
        payload: encodeRecord({
          type: "prepare",
          txnId: "t",
          snapshot: 5,
          writes: [{ key: "a", value: "1" }],
          primary: 0,
          participants: [0],
        }),
      });
      await saveCheckpoint(dir, map, 0, 123, s.checkpoint());
      await saveCheckpoint(dir, { ...map, version: 1 }, 1, 50, new PartitionState(1).checkpoint());
      const warnings: string[] = [];
      let got = loadCheckpoints(dir, map, (m) => warnings.push(m));
      expect([...got.keys()]).toEqual([0]);
      expect(got.get(0)!.readFrom).toBe(123);
      expect(Buffer.from(got.get(0)!.state.checkpoint())).toEqual(Buffer.from(s.checkpoint()));
      expect(warnings.join()).toMatch(/map version 1/);
      fs.writeFileSync(path.join(dir, "partition-0.ckpt"), Buffer.from([0x93, 1]));
      got = loadCheckpoints(dir, map, (m) => warnings.push(m));
      expect(got.size).toBe(0);
      expect(warnings.join()).toMatch(/unreadable/);
      // A directory that does not exist yet is made on the first save.
      const fresh = path.join(dir, "not-yet");
      await saveCheckpoint(fresh, map, 0, 7, s.checkpoint());
      expect(loadCheckpoints(fresh, map, (m) => warnings.push(m)).get(0)!.readFrom).toBe(7);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
