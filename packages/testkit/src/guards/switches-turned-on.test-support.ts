// How the guard coverage tests tell a live guard from text: the switches a test file turns on for a run
// (set to `true` in an object passed to a call inside a live `it(...)`).
import ts from "typescript";

/** The unsafe switches that the tests in `source` turn on for a run. */
export function switchesTurnedOn(source: string, file = "guard.test.ts"): Set<string> {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const on = new Set<string>();
  // A switch object passed to a call: as an argument, or nested in an options object argument.
  const collect = (arg: ts.Expression): void => {
    if (!ts.isObjectLiteralExpression(arg)) return;
    for (const p of arg.properties) {
      if (!ts.isPropertyAssignment(p)) continue;
      if (p.initializer.kind === ts.SyntaxKind.TrueKeyword) on.add(p.name.getText(sf));
      else collect(p.initializer);
    }
  };
  const visit = (node: ts.Node, inTest: boolean): void => {
    if (ts.isCallExpression(node)) {
      const callee = node.expression.getText(sf);
      // `it.skip`, `it.todo`, `describe.skip`: nothing below runs.
      if (/^(it|test|describe)\.(skip|todo)$/.test(callee)) return;
      if (inTest) for (const a of node.arguments) collect(a);
      if (callee === "it" || callee === "test" || /^(it|test)\.(only|concurrent)$/.test(callee)) {
        for (const a of node.arguments) visit(a, true);
        return;
      }
    }
    ts.forEachChild(node, (c) => visit(c, inTest));
  };
  visit(sf, false);
  return on;
}
