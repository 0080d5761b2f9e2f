import {
  type AppendOp,
  isAppend,
  type Operation,
  payloadKey,
  type SessionRef,
  sessionText,
} from "./history.ts";

/** Everything clients did to append one payload to one group: the session and every attempt. */
export interface AppendedPayload {
  readonly group: number;
  readonly key: string;
  readonly session: SessionRef;
  /** Op indices of the attempts (a retry reuses session and payload), in history order. */
  readonly attempts: number[];
  /** The earliest call of any attempt: no read that returned before it can show these bytes. */
  firstCall: number;
}

/**
 * Ties bytes read back to the appends that wrote them. Relies on the simulator's promise that every
 * payload is unique per (group, session) and that retries reuse it; a history that breaks the promise is
 * reported in `problems`, since every later conclusion would rest on it.
 */
export class AppendIndex {
  readonly problems: string[] = [];
  private readonly byKey = new Map<string, AppendedPayload>();
  private readonly bySession = new Map<string, AppendedPayload>();

  constructor(ops: readonly Operation[]) {
    ops.forEach((op, i) => {
      if (isAppend(op)) this.add(op, i);
    });
  }

  /** The append that wrote these bytes to this group, if any client did. */
  lookup(group: number, payload: Uint8Array): AppendedPayload | undefined {
    return this.byKey.get(payloadKey(group, payload));
  }

  get all(): Iterable<AppendedPayload> {
    return this.byKey.values();
  }

  private add(op: AppendOp, index: number): void {
    const key = payloadKey(op.group, op.input.payload);
    const sessionKey = `${op.group}/${sessionText(op.input.session)}`;
    const known = this.byKey.get(key);
    const sameSession = this.bySession.get(sessionKey);
    if (known === undefined && sameSession === undefined) {
      const fresh: AppendedPayload = {
        group: op.group,
        key,
        session: op.input.session,
        attempts: [index],
        firstCall: op.call,
      };
      this.byKey.set(key, fresh);
      this.bySession.set(sessionKey, fresh);
      return;
    }
    if (known !== undefined && known === sameSession) {
      known.attempts.push(index);
      known.firstCall = Math.min(known.firstCall, op.call);
      return;
    }
    const first = known ?? sameSession!;
    this.problems.push(
      `history: group ${op.group} op #${index} (session ${sessionText(op.input.session)}) breaks the ` +
        `one-payload-per-session assumption (see op #${first.attempts[0]}, session ${sessionText(first.session)})`,
    );
  }
}
