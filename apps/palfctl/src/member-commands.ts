import type { ConfigChange, GroupOverview, PalfClient } from "@palf/client";
import type { Command } from "commander";
import type { CliIo, WithClient } from "./cli.ts";
import { jsonLine } from "./output.ts";
import { renderTable } from "./output-format.ts";
import { parseGroupId, parseNodeId, parsePositive } from "./parse.ts";

/** Time one membership change may take by default: an added replica catches up first (ms). */
const CHANGE_TIMEOUT_MS = 60_000;

/** `palfctl member add|remove|promote|demote|replica-num` and `palfctl groups`. */
export function registerMemberCommands(program: Command, withClient: WithClient, io: CliIo): void {
  const member = program
    .command("member")
    .description(
      "change a group's membership on its leader; each change waits until its config entry committed",
    );

  const change = (
    make: (client: PalfClient, group: number, node: string, o: ChangeFlags) => Promise<ConfigChange>,
  ) =>
    withClient(async (client, g, group: number, node: string, o: ChangeFlags) => {
      const c = await make(client, group, node, o);
      const timeoutMs = Math.max(g.timeout, CHANGE_TIMEOUT_MS);
      const r = await client
        .membership()
        .change(group, c, { timeoutMs, ...(o.keepReplica ? { keepReplica: true } : {}) });
      io.out(jsonLine({ group, change: c, changed: r.changed, config: r.config }));
      return 0;
    });

  member
    .command("add")
    .description("add <node> as a voting member (or --learner); its replica is created and catches up first")
    .argument("<group>", "group id", parseGroupId)
    .argument("<node>", "node id", parseNodeId)
    .option("--learner", "add it as a learner (follows the log, never votes)")
    .action(change(async (_c, _g, node, o) => ({ type: o.learner ? "addLearner" : "addMember", id: node })));

  member
    .command("remove")
    .description("remove <node>'s replica (a member, or a learner); leadership moves off it first")
    .argument("<group>", "group id", parseGroupId)
    .argument("<node>", "node id", parseNodeId)
    .option("--learner", "it is a learner (default: look at the group's config)")
    .option("--keep-replica", "do not delete the removed replica on its node")
    .action(
      change(async (client, group, node, o) => {
        let learner = o.learner === true;
        if (!learner) learner = (await client.membership().group(group))?.learners.includes(node) ?? false;
        return { type: learner ? "removeLearner" : "removeMember", id: node };
      }),
    );

  member
    .command("promote")
    .description("make learner <node> a voting member (once it caught up)")
    .argument("<group>", "group id", parseGroupId)
    .argument("<node>", "node id", parseNodeId)
    .action(change(async (_c, _g, node) => ({ type: "promoteLearner", id: node })));

  member
    .command("demote")
    .description("make member <node> a learner")
    .argument("<group>", "group id", parseGroupId)
    .argument("<node>", "node id", parseNodeId)
    .action(change(async (_c, _g, node) => ({ type: "demoteMember", id: node })));

  member
    .command("replica-num")
    .description("set the replica number (the quorum is replicaNum / 2 + 1; at least the member count)")
    .argument("<group>", "group id", parseGroupId)
    .argument("<n>", "replica number", parsePositive)
    .action(
      withClient(async (client, g, group: number, n: number) => {
        const c: ConfigChange = { type: "setReplicaNum", replicaNum: n };
        const r = await client
          .membership()
          .change(group, c, { timeoutMs: Math.max(g.timeout, CHANGE_TIMEOUT_MS) });
        io.out(jsonLine({ group, change: c, changed: r.changed, config: r.config }));
        return 0;
      }),
    );

  program
    .command("groups")
    .description("every group on the nodes of --nodes: members, learners, leader, committed end and lag")
    .option("--node <id>", "only groups with a replica on this node", parseNodeId)
    .option("--json", "one JSON line per group instead of a table (as -o json)")
    .action(
      withClient(async (client, g, o: { node?: string; json?: boolean }) => {
        const view = await client.membership().overview();
        const rows = view.groups.filter(
          (x) =>
            o.node === undefined ||
            x.hosts.includes(o.node) ||
            x.members.includes(o.node) ||
            x.learners.includes(o.node),
        );
        if (view.unreachable.length > 0) io.err(`palfctl: no answer from ${view.unreachable.join(", ")}\n`);
        if (o.json || g.output === "json") for (const r of rows) io.out(jsonLine(r));
        else for (const line of table(rows)) io.out(line);
        return view.unreachable.length === client.membership().seeds.length ? 1 : 0;
      }),
    );
}

interface ChangeFlags {
  readonly learner?: boolean;
  readonly keepReplica?: boolean;
}

function table(rows: readonly GroupOverview[]): string[] {
  const lagOf = (r: GroupOverview) =>
    Object.entries(r.lag)
      .map(([n, l]) => `${n}:${l ?? "?"}`)
      .join(",") || "-";
  return renderTable(
    rows.map((r) => ({
      group: String(r.group),
      leader: r.leader ?? "-",
      members: r.members.join(","),
      learners: r.learners.join(",") || "-",
      replicas: String(r.replicaNum),
      committed: String(r.committedEnd),
      lag: lagOf(r),
      changing: r.changing ? "yes" : "no",
    })),
    ["group", "leader", "members", "learners", "replicas", "committed", "lag", "changing"],
  );
}
