// A V8 heap snapshot (.heapsnapshot) summarized by class: count and self size of the objects of each
// constructor (strings, numbers and code by kind), so a bench can name the structures that grow with the
// group count. The file can exceed what one JSON string may hold, so it is read as a stream: the node
// table is scanned number by number and only the names the summary needs are decoded.
import fs from "node:fs";

/** Node options that make a process write a heap snapshot into `dir` on SIGTTIN (see Node's CLI docs). */
export const HEAP_SIGNAL = "SIGTTIN";
export function heapSnapshotOptions(dir: string): string {
  return `--heapsnapshot-signal=${HEAP_SIGNAL} --diagnostic-dir=${dir}`;
}

export interface HeapClass {
  /** Constructor or function name; for strings, numbers and other nameless kinds, the kind in parentheses. */
  readonly name: string;
  readonly count: number;
  readonly bytes: number;
}

export interface HeapSummary {
  readonly objects: number;
  readonly bytes: number;
  /** Largest total self size first. */
  readonly classes: readonly HeapClass[];
  /** Classes of objects (constructors) with at least `minCount` instances, largest first: per-group ones. */
  readonly common: readonly HeapClass[];
}

/** Kinds whose node names are contents, not class names: summed by kind. */
const BY_KIND = new Set([
  "string",
  "concatenated string",
  "sliced string",
  "number",
  "heap number",
  "bigint",
  "code",
  "hidden",
  "symbol",
  "regexp",
]);

export async function summarizeHeapSnapshot(
  file: string,
  top = 15,
  minCount = Number.POSITIVE_INFINITY,
): Promise<HeapSummary> {
  let header = "";
  let phase: "header" | "nodes" | "seek" | "strings" | "done" = "header";
  let fieldCount = 0;
  let typeField = 0;
  let nameField = 0;
  let sizeField = 0;
  let types: string[] = [];
  let field = 0;
  let num = -1;
  let nodeType = 0;
  let nodeName = 0;
  let nodeSize = 0;
  let objects = 0;
  let total = 0;
  /** key: name * 32 + type, or -(type + 1) for kinds summed without names. */
  const agg = new Map<number, { count: number; bytes: number }>();
  let seekTail = "";
  let strIndex = 0;
  let inString = false;
  let escaped = false;
  let raw = "";
  let wanted = new Map<number, string>();

  const endNode = (size: number) => {
    objects++;
    total += size;
    const kind = types[nodeType] ?? "?";
    const key = BY_KIND.has(kind) ? -(nodeType + 1) : nodeName * 32 + nodeType;
    const a = agg.get(key);
    if (a) {
      a.count++;
      a.bytes += size;
    } else agg.set(key, { count: 1, bytes: size });
  };

  const onNumber = (v: number) => {
    const f = field % fieldCount;
    if (f === typeField) nodeType = v;
    else if (f === nameField) nodeName = v;
    else if (f === sizeField) nodeSize = v;
    field++;
    if (field % fieldCount === 0) endNode(nodeSize);
  };

  const feed = (text: string) => {
    let i = 0;
    while (i < text.length && phase !== "done") {
      if (phase === "header") {
        header += text.slice(i);
        const at = header.indexOf('"nodes":[');
        if (at < 0) return;
        const meta = JSON.parse(`${header.slice(0, at).replace(/,\s*$/, "")}}`).snapshot.meta;
        const fields = meta.node_fields as string[];
        fieldCount = fields.length;
        typeField = fields.indexOf("type");
        nameField = fields.indexOf("name");
        sizeField = fields.indexOf("self_size");
        types = meta.node_types[0] as string[];
        phase = "nodes";
        const rest = header.slice(at + '"nodes":['.length);
        header = "";
        feed(rest);
        return;
      }
      if (phase === "nodes") {
        for (; i < text.length; i++) {
          const c = text.charCodeAt(i);
          if (c >= 48 && c <= 57) num = num < 0 ? c - 48 : num * 10 + (c - 48);
          else {
            if (num >= 0) onNumber(num);
            num = -1;
            if (c === 93 /* ] */) {
              phase = "seek";
              i++;
              wanted = neededNames(agg, top, minCount);
              break;
            }
          }
        }
        continue;
      }
      if (phase === "seek") {
        seekTail += text.slice(i);
        const at = seekTail.indexOf('"strings":[');
        if (at < 0) {
          seekTail = seekTail.slice(-16);
          return;
        }
        phase = "strings";
        const rest = seekTail.slice(at + '"strings":['.length);
        seekTail = "";
        feed(rest);
        return;
      }
      // strings: a JSON array of JSON strings; decode only the ones named in `wanted`.
      for (; i < text.length; i++) {
        const ch = text[i]!;
        if (inString) {
          if (wanted.has(strIndex)) raw += ch;
          if (escaped) escaped = false;
          else if (ch === "\\") escaped = true;
          else if (ch === '"') {
            inString = false;
            if (wanted.has(strIndex)) wanted.set(strIndex, JSON.parse(raw) as string);
            raw = "";
            strIndex++;
          }
        } else if (ch === '"') {
          inString = true;
          if (wanted.has(strIndex)) raw = '"';
        } else if (ch === "]") {
          phase = "done";
          break;
        }
      }
    }
  };

  const stream = fs.createReadStream(file, { encoding: "utf8", highWaterMark: 4 << 20 });
  for await (const chunk of stream) {
    feed(chunk as string);
    // (feed moves the phase; TypeScript cannot see that through the closure)
    if ((phase as string) === "done") {
      stream.destroy();
      break;
    }
  }

  const byName = new Map<string, { count: number; bytes: number }>();
  for (const [key, a] of agg) {
    const name =
      key < 0 ? `(${types[-key - 1]})` : `${wanted.get(Math.floor(key / 32)) ?? ""} (${types[key % 32]})`;
    if (key >= 0 && !wanted.has(Math.floor(key / 32))) continue;
    const b = byName.get(name);
    if (b) {
      b.count += a.count;
      b.bytes += a.bytes;
    } else byName.set(name, { ...a });
  }
  const all = [...byName].map(([name, a]) => ({ name, count: a.count, bytes: a.bytes }));
  all.sort((a, b) => b.bytes - a.bytes);
  const classes = all.slice(0, top);
  const common = all.filter((c) => c.count >= minCount && c.name.endsWith(" (object)")).slice(0, top);
  return { objects, bytes: total, classes, common };
}

/**
 * String indexes of the names among the largest entries (a few more than shown: names can merge), and of
 * every name with at least `minCount` objects.
 */
function neededNames(
  agg: Map<number, { count: number; bytes: number }>,
  top: number,
  minCount: number,
): Map<number, string> {
  const named = [...agg].filter(([k]) => k >= 0).sort((a, b) => b[1].bytes - a[1].bytes);
  const keys = [...named.slice(0, top * 4), ...named.filter(([, a]) => a.count >= minCount)];
  return new Map(keys.map(([k]) => [Math.floor(k / 32), ""]));
}
