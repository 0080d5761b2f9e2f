/**
 * A replica removed from its group while it was away (a replaced node that comes back) still holds the config
 * it last saw, in which it is a member: it stands for election and asks the members it knows, who refuse it.
 * A member whose committed config names it neither as member nor learner also tells it so (NotMember); the
 * replica then stops standing and reports `removed`, and its host drops it. Only a committed config may say
 * so: an uncommitted removal can still be truncated by a new leader, and the group would then count a
 * replica that no longer exists.
 */
import { isLearner, isMember } from "./member-config.ts";
import type { NotMember, VoteRequest } from "./messages.ts";
import type { ReplicaState } from "./replica-state.ts";
import { compareVersion } from "./types.ts";

/** A vote request came from a replica our latest config names nowhere: tell it, if that config is committed. */
export function tellIfRemoved(s: ReplicaState, req: VoteRequest): void {
  const cfg = s.log.config;
  if (isMember(cfg, req.from) || isLearner(cfg, req.from)) return;
  if (!configCommitted(s) && !s.opts.unsafe.removedByUncommittedConfig) return;
  s.send({ type: "notMember", group: s.group, inc: s.inc, from: s.self, to: req.from, cfg: cfg.version });
}

/**
 * A member says its committed config names us nowhere. Believed only from a member of our own config and for
 * a config newer than ours (one we may simply not have received yet); a leader steps down first.
 */
export function onNotMember(s: ReplicaState, m: NotMember): boolean {
  if (s.removed !== undefined) return false;
  if (!isMember(s.log.config, m.from) || compareVersion(m.cfg, s.log.config.version) <= 0) return false;
  if (s.role === "leader" || s.role === "candidate") s.stepDown(s.now, `removed by config of ${m.from}`);
  s.removed = { by: m.from, version: m.cfg };
  s.sink.event({ type: "removed", group: s.group, by: m.from, version: m.cfg });
  return true;
}

/** The latest config entry is committed (or lies at or below the base). */
export function configCommitted(s: Pick<ReplicaState, "committedEnd" | "log">): boolean {
  return s.committedEnd > s.log.configLsn || s.log.configLsn <= s.log.base.lsn;
}
