/**
 * A simulated disk for the whole-node simulator, behind the WAL's file-system interface (WalFs).
 *
 * Every file has durable content plus a list of unsynced operations (writes, truncations) that reads
 * already see. fdatasync makes the operations issued before it durable. Directory entries (create, rename,
 * unlink, mkdir) are durable only after an fsync of their directory. `crash()` keeps the durable state plus,
 * per directory and per file, a random prefix of the unsynced operations, possibly tearing the last kept
 * write (only a prefix of its bytes), all decided by the seeded PRNG.
 *
 * Faults: an fdatasync (or directory fsync, or write) can fail with EIO. As on Linux after a failed fsync,
 * the writes it covered are then lost for good (the page cache drops them) even though reads still see
 * them, so a later fsync that succeeds proves nothing: a process that retries an fsync after a failure is
 * reported. Fsyncs can also be slow. Asynchronous calls complete through the simulator's event queue, as
 * events of the calling process (held while it is paused, dropped once it is dead).
 */
import path from "node:path";
import type { Prng } from "@palf/core";
import type { FsCallback, WalFs } from "@palf/storage";
import type { Proc, SimScheduler } from "./sim-scheduler.ts";

interface FileOp {
  readonly seq: number;
  /** A write's bytes at `pos`, or a truncation to `pos` bytes. */
  readonly pos: number;
  readonly bytes: Uint8Array | undefined;
  /** A failed fsync covered it: it never reaches the platter. */
  lost: boolean;
}

/** Growable byte content of a file. */
class Content {
  buf = new Uint8Array(0);
  len = 0;

  apply(op: { pos: number; bytes: Uint8Array | undefined }, tornLength?: number): void {
    if (op.bytes === undefined) {
      this.len = Math.min(this.len, op.pos);
      return;
    }
    const n = tornLength ?? op.bytes.length;
    const end = op.pos + n;
    if (end > this.buf.length) {
      const next = new Uint8Array(Math.max(end, this.buf.length * 2, 4096));
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
    }
    // Bytes between the old end and the write are zeros (a hole), whatever an earlier truncation left.
    if (op.pos > this.len) this.buf.fill(0, this.len, op.pos);
    this.buf.set(n === op.bytes.length ? op.bytes : op.bytes.subarray(0, n), op.pos);
    if (end > this.len) this.len = end;
  }

  copy(): Content {
    const c = new Content();
    c.buf = this.buf.slice(0, Math.max(this.len, 1));
    c.len = this.len;
    return c;
  }
}

class Inode {
  readonly kind = "file";
  durable = new Content();
  current = new Content();
  ops: FileOp[] = [];

  /** Makes every operation up to `seq` durable (lost ones stay lost). */
  sync(seq: number): void {
    let i = 0;
    for (; i < this.ops.length && this.ops[i]!.seq <= seq; i++) {
      const op = this.ops[i]!;
      if (!op.lost) this.durable.apply(op);
    }
    if (i > 0) this.ops = this.ops.slice(i);
  }

  /** What survives a crash: durable content plus a random prefix of the rest, the last one maybe torn. */
  crash(rng: Prng): boolean {
    const pending = this.ops.filter((op) => !op.lost);
    const keep = rng.int(0, pending.length + 1);
    let tornAny = false;
    for (let i = 0; i < keep; i++) {
      const op = pending[i]!;
      const torn = i === keep - 1 && op.bytes !== undefined && op.bytes.length > 1 && rng.chance(0.3);
      if (torn) tornAny = true;
      this.durable.apply(op, torn ? rng.int(1, op.bytes!.length) : undefined);
    }
    this.ops = [];
    this.current = this.durable.copy();
    return tornAny;
  }
}

type DirOp =
  | { readonly seq: number; readonly type: "set"; readonly name: string; readonly node: Node }
  | { readonly seq: number; readonly type: "delete"; readonly name: string }
  | {
      readonly seq: number;
      readonly type: "rename";
      readonly from: string;
      readonly to: string;
      readonly node: Node;
    };

class Dir {
  readonly kind = "dir";
  current = new Map<string, Node>();
  durable = new Map<string, Node>();
  ops: DirOp[] = [];

  sync(seq: number): void {
    let i = 0;
    for (; i < this.ops.length && this.ops[i]!.seq <= seq; i++) applyDirOp(this.durable, this.ops[i]!);
    if (i > 0) this.ops = this.ops.slice(i);
  }

  crash(rng: Prng): void {
    const keep = rng.int(0, this.ops.length + 1);
    for (let i = 0; i < keep; i++) applyDirOp(this.durable, this.ops[i]!);
    this.ops = [];
    this.current = new Map(this.durable);
  }
}

type Node = Inode | Dir;

function applyDirOp(entries: Map<string, Node>, op: DirOp): void {
  if (op.type === "set") entries.set(op.name, op.node);
  else if (op.type === "delete") entries.delete(op.name);
  else {
    entries.delete(op.from);
    entries.set(op.to, op.node);
  }
}

/** Fault knobs; the chaos driver changes them during a run. */
export interface DiskFaults {
  /** Chance that one fdatasync, directory fsync or write fails with EIO. */
  ioError: number;
  /** The next this many fdatasyncs, directory fsyncs or writes fail with EIO. */
  failNext: number;
  /**
   * The next this many fdatasyncs fail with EIO (writes and directory fsyncs go on). `failNext` hits an
   * fdatasync only when one is in flight as it is set; otherwise the next write takes it.
   */
  failNextSync: number;
  /** Chance that one fsync is slow (completes after `slowMs` more). */
  slow: number;
  slowMs: number;
}

function ioError(what: string): Error {
  return Object.assign(new Error(`EIO: i/o error, ${what}`), { code: "EIO" });
}

/** The disk of one simulated machine; it outlives process lives (each gets a `view`). */
export class SimDisk {
  readonly faults: DiskFaults = { ioError: 0, failNext: 0, failNextSync: 0, slow: 0, slowMs: 500 };
  /** Told at every injected I/O error (the simulator expects the node to stop). */
  onIoError: (() => void) | undefined;
  /** Failures of the processes using this disk (an fsync retried after it failed). */
  readonly violations: string[] = [];
  readonly stats = { writes: 0, fsyncs: 0, dirSyncs: 0, ioErrors: 0, crashes: 0, tornWrites: 0 };
  private readonly root = new Dir();
  private seq = 0;

  constructor(
    readonly name: string,
    private readonly sched: SimScheduler,
    private readonly rng: Prng,
  ) {}

  /** A process life's file system on this disk. */
  view(proc: Proc): SimFs {
    return new SimFs(this, proc, this.sched, this.rng);
  }

  nextSeq(): number {
    return ++this.seq;
  }

  /** Power loss / kill -9: only durable state and a random prefix of the unsynced operations survive. */
  crash(): void {
    this.stats.crashes++;
    const walk = (d: Dir): void => {
      d.crash(this.rng);
      for (const child of d.current.values()) {
        if (child.kind === "dir") walk(child);
        else if (child.crash(this.rng)) this.stats.tornWrites++;
      }
    };
    walk(this.root);
  }

  /** Creates directories durably (provisioning: the machine's data dir exists before any process runs). */
  provision(dir: string): void {
    let d = this.root;
    for (const part of parts(dir)) {
      let next = d.current.get(part);
      if (next === undefined) {
        next = new Dir();
        d.current.set(part, next);
        d.durable.set(part, next);
      }
      if (next.kind !== "dir") throw new Error(`${dir}: not a directory`);
      d = next;
    }
  }

  lookup(p: string): Node | undefined {
    let n: Node = this.root;
    for (const part of parts(p)) {
      if (n.kind !== "dir") return undefined;
      const next = n.current.get(part);
      if (next === undefined) return undefined;
      n = next;
    }
    return n;
  }

  dirOf(p: string): { dir: Dir; name: string } {
    const parent = this.lookup(path.dirname(p));
    if (parent === undefined || parent.kind !== "dir") throw enoent(path.dirname(p));
    return { dir: parent, name: path.basename(p) };
  }

  /** Total bytes of files reachable now (for stats). */
  bytes(): number {
    let total = 0;
    const walk = (d: Dir): void => {
      for (const c of d.current.values()) {
        if (c.kind === "dir") walk(c);
        else total += c.current.len;
      }
    };
    walk(this.root);
    return total;
  }
}

function parts(p: string): string[] {
  return path
    .resolve(p)
    .split("/")
    .filter((s) => s.length > 0);
}

function enoent(p: string): Error {
  return Object.assign(new Error(`ENOENT: no such file or directory, '${p}'`), { code: "ENOENT" });
}

/** One process life's view of a SimDisk: its own file descriptors; dead lives get no callbacks. */
export class SimFs implements WalFs {
  private readonly fds = new Map<number, Inode>();
  private nextFd = 3;
  /** Files whose fsync failed in this life: fsyncing them again is the bug we look for. */
  private readonly failed = new Set<Inode>();

  constructor(
    private readonly disk: SimDisk,
    private readonly proc: Proc,
    private readonly sched: SimScheduler,
    private readonly rng: Prng,
  ) {}

  private later(ms: number, fn: () => void): void {
    this.sched.at(this.sched.now + ms, fn, this.proc);
  }

  private inode(fd: number): Inode {
    const f = this.fds.get(fd);
    if (f === undefined)
      throw Object.assign(new Error(`EBADF: bad file descriptor ${fd}`), { code: "EBADF" });
    return f;
  }

  private syncLatency(): number {
    const f = this.disk.faults;
    const base = 0.05 + this.rng.next() * 1.5;
    return this.rng.chance(f.slow) ? base + this.rng.next() * f.slowMs : base;
  }

  private fails(sync = false): boolean {
    const f = this.disk.faults;
    if (sync && f.failNextSync > 0) f.failNextSync--;
    else if (f.failNext > 0) f.failNext--;
    else if (!this.rng.chance(f.ioError)) return false;
    this.disk.stats.ioErrors++;
    this.disk.onIoError?.();
    return true;
  }

  exists(p: string): boolean {
    return this.disk.lookup(p) !== undefined;
  }

  mkdirp(p: string): void {
    let cur = "/";
    for (const part of parts(p)) {
      const next = path.join(cur, part);
      const node = this.disk.lookup(next);
      if (node === undefined) {
        const { dir, name } = this.disk.dirOf(next);
        const made = new Dir();
        dir.current.set(name, made);
        dir.ops.push({ seq: this.disk.nextSeq(), type: "set", name, node: made });
      } else if (node.kind !== "dir") throw new Error(`ENOTDIR: ${next}`);
      cur = next;
    }
  }

  readdir(p: string): string[] {
    const d = this.disk.lookup(p);
    if (d === undefined) throw enoent(p);
    if (d.kind !== "dir") throw new Error(`ENOTDIR: ${p}`);
    return [...d.current.keys()].sort();
  }

  openSync(p: string): number {
    const f = this.disk.lookup(p);
    if (f === undefined) throw enoent(p);
    if (f.kind !== "file") throw new Error(`EISDIR: ${p}`);
    const fd = this.nextFd++;
    this.fds.set(fd, f);
    return fd;
  }

  create(p: string, cb: (err: Error | null, fd: number) => void): void {
    this.later(0.01 + this.rng.next() * 0.05, () => {
      let at: { dir: Dir; name: string };
      try {
        at = this.disk.dirOf(p);
      } catch (err) {
        return cb(err as Error, -1);
      }
      if (at.dir.current.has(at.name)) {
        return cb(Object.assign(new Error(`EEXIST: file already exists, '${p}'`), { code: "EEXIST" }), -1);
      }
      const f = new Inode();
      at.dir.current.set(at.name, f);
      at.dir.ops.push({ seq: this.disk.nextSeq(), type: "set", name: at.name, node: f });
      const fd = this.nextFd++;
      this.fds.set(fd, f);
      cb(null, fd);
    });
  }

  size(fd: number): number {
    return this.inode(fd).current.len;
  }

  readSync(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number {
    const c = this.inode(fd).current;
    const n = Math.max(0, Math.min(length, c.len - position));
    if (n > 0) buf.set(c.buf.subarray(position, position + n), offset);
    return n;
  }

  write(
    fd: number,
    buf: Uint8Array,
    offset: number,
    length: number,
    position: number,
    cb: (err: Error | null, written: number) => void,
  ): void {
    const f = this.inode(fd);
    // The caller may reuse its buffer once the callback ran, not before: copy at the call, apply at completion.
    const bytes = buf.slice(offset, offset + length);
    this.later(0.005 + this.rng.next() * 0.1, () => {
      if (this.fails()) return cb(ioError("write"), 0);
      this.disk.stats.writes++;
      const op: FileOp = { seq: this.disk.nextSeq(), pos: position, bytes, lost: false };
      f.current.apply(op);
      f.ops.push(op);
      cb(null, length);
    });
  }

  fdatasync(fd: number, cb: FsCallback): void {
    const f = this.inode(fd);
    if (this.failed.has(f)) {
      this.disk.violations.push(
        `${this.disk.name}: fdatasync retried on a file whose fsync already failed (never retry an fsync)`,
      );
    }
    const upTo = this.disk.nextSeq();
    this.later(this.syncLatency(), () => {
      this.disk.stats.fsyncs++;
      if (this.fails(true)) {
        // Linux drops the dirty pages it could not write: those writes are gone, whatever comes later.
        for (const op of f.ops) if (op.seq <= upTo) op.lost = true;
        this.failed.add(f);
        return cb(ioError("fdatasync"));
      }
      f.sync(upTo);
      cb(null);
    });
  }

  ftruncateSync(fd: number, length: number): void {
    const f = this.inode(fd);
    const op: FileOp = { seq: this.disk.nextSeq(), pos: length, bytes: undefined, lost: false };
    f.current.apply(op);
    f.ops.push(op);
  }

  fsyncSync(fd: number): void {
    const f = this.inode(fd);
    if (this.failed.has(f)) {
      this.disk.violations.push(`${this.disk.name}: fsync retried on a file whose fsync already failed`);
    }
    f.sync(this.disk.nextSeq());
  }

  rename(from: string, to: string, cb: FsCallback): void {
    this.later(0.01 + this.rng.next() * 0.05, () => {
      const a = this.disk.dirOf(from);
      const b = this.disk.dirOf(to);
      const node = a.dir.current.get(a.name);
      if (node === undefined) return cb(enoent(from));
      if (a.dir !== b.dir) return cb(new Error("EXDEV: the simulated disk renames within a directory only"));
      a.dir.current.delete(a.name);
      a.dir.current.set(b.name, node);
      a.dir.ops.push({ seq: this.disk.nextSeq(), type: "rename", from: a.name, to: b.name, node });
      cb(null);
    });
  }

  unlink(p: string, cb: FsCallback): void {
    this.later(0.01 + this.rng.next() * 0.05, () => {
      const { dir, name } = this.disk.dirOf(p);
      if (!dir.current.has(name)) return cb(enoent(p));
      dir.current.delete(name);
      dir.ops.push({ seq: this.disk.nextSeq(), type: "delete", name });
      cb(null);
    });
  }

  fsyncDir(dir: string, cb: FsCallback): void {
    const d = this.disk.lookup(dir);
    const upTo = this.disk.nextSeq();
    this.later(this.syncLatency(), () => {
      if (d === undefined || d.kind !== "dir") return cb(enoent(dir));
      this.disk.stats.dirSyncs++;
      if (this.fails()) return cb(ioError("fsync (directory)"));
      d.sync(upTo);
      cb(null);
    });
  }

  fsyncDirSync(dir: string): void {
    const d = this.disk.lookup(dir);
    if (d === undefined || d.kind !== "dir") throw enoent(dir);
    d.sync(this.disk.nextSeq());
  }

  closeSync(fd: number): void {
    this.inode(fd);
    this.fds.delete(fd);
  }
}
