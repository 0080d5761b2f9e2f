import type { Command } from "commander";
import type { CliIo, WithClient } from "./cli.ts";
import { jsonLine } from "./output.ts";
import { parseNodeList } from "./parse.ts";

/** `palfctl cursors [list] | init --members | delete <name>`: the durable reader cursors that hold retention back. */
export function registerCursorCommands(program: Command, withClient: WithClient, io: CliIo): void {
  const cursors = program
    .command("cursors")
    .description("named durable reader cursors (retention keeps what they have not consumed)");

  cursors
    .command("list", { isDefault: true })
    .description(
      "one JSON line per cursor: its position, and its lag (bytes) behind each group's committed end",
    )
    .action(
      withClient(async (client) => {
        for (const c of await client.cursors().report()) io.out(jsonLine(c));
        return 0;
      }),
    );

  cursors
    .command("init")
    .description("create the cluster's cursor group (once, like the GTS group)")
    .requiredOption("--members <ids>", "voting members, comma-separated", parseNodeList)
    .action(
      withClient(async (client, _g, o: { members: string[] }) => {
        await client.cursors().createGroup(o.members);
        io.out(jsonLine({ cursorGroup: "created", members: o.members }));
        return 0;
      }),
    );

  cursors
    .command("delete")
    .description("delete a cursor: retention no longer keeps anything for it")
    .argument("<name>", "cursor name")
    .action(
      withClient(async (client, _g, name: string) => {
        const deleted = await client.cursors().delete(name);
        io.out(jsonLine({ cursor: name, deleted }));
        return deleted ? 0 : 1;
      }),
    );
}
