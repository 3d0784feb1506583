/**
 * Rewrites a test262 test so that the values it creates pass through `$route(value)`, and makes
 * it a generator that pauses once, at `yield`, between its setup and its first assertion: the
 * restore mode stores the state there and goes on in a new request.
 *
 * `(function* ($route, $restore, ...harness) { setup; yield; a = $restore(a); …; rest })`
 */
import { parseAst } from "rolldown/parseAst";

type Node = { type: string; start: number; end: number; [key: string]: unknown };

/** Constructors whose `new` results are routed. */
const ROUTED_CONSTRUCTORS = new Set(["Array", "Map", "Set", "Date", "Object"]);

/** Calls whose object-literal arguments are property descriptors, not the test's data. */
const DESCRIPTOR_ARGUMENTS = new Map<string, { own: number[]; maps: number[] }>([
  ["Object.defineProperty", { own: [2], maps: [] }],
  ["Reflect.defineProperty", { own: [2], maps: [] }],
  ["Object.defineProperties", { own: [], maps: [1] }],
  ["Object.create", { own: [], maps: [1] }],
  ["verifyProperty", { own: [2, 3], maps: [] }],
  ["verifyPrimordialProperty", { own: [2, 3], maps: [] }],
]);

// The harness's assertions: the setup ends before the first statement that uses one.
const ASSERTION =
  /^(assert|verify\w*|compareArray|Test262Error|\$DONOTEVALUATE|\$ERROR|testWith\w*)$/;

interface Edit {
  start: number;
  end: number;
  text: string;
  /** Among edits at one position: lower first. */
  order: number;
}

/** The source of a generator function expression that runs `code` as described above. */
export function transform(code: string, harnessNames: readonly string[], strict: boolean): string {
  const program = parseAst(code, { lang: "js", sourceType: "script" }) as unknown as Node & {
    body: Node[];
  };
  const edits: Edit[] = [];
  const skipped = new Set<Node>();

  const visit = (node: Node): void => {
    if (node.type === "CallExpression" || node.type === "NewExpression") markDescriptors(node);
    if (routed(node) && !skipped.has(node)) {
      edits.push({ start: node.start, end: node.start, text: "$route(", order: 2 });
      edits.push({ start: node.end, end: node.end, text: ")", order: 0 });
    }
    for (const [key, value] of Object.entries(node)) {
      if (key === "type") continue;
      if (Array.isArray(value)) {
        for (const item of value) if (isNode(item)) visit(item);
      } else if (isNode(value)) visit(value);
    }
  };

  const markDescriptors = (call: Node): void => {
    const args = call.arguments as Node[];
    if (call.type === "NewExpression") {
      // `new Proxy(target, handler)`: the handler is the test's machinery.
      if (name(call.callee as Node) === "Proxy" && args[1]) skipped.add(args[1]);
      return;
    }
    const positions = DESCRIPTOR_ARGUMENTS.get(name(call.callee as Node) ?? "");
    if (!positions) return;
    for (const index of positions.own) {
      const arg = args[index];
      if (arg?.type === "ObjectExpression") skipped.add(arg);
    }
    for (const index of positions.maps) {
      const arg = args[index];
      if (arg?.type !== "ObjectExpression") continue;
      skipped.add(arg);
      for (const property of arg.properties as Node[]) {
        const value = property.value as Node | undefined;
        if (value?.type === "ObjectExpression") skipped.add(value);
      }
    }
  };

  const body = program.body;
  let split = body.findIndex((statement) => asserts(statement));
  if (split === -1) split = body.length;
  const rebound = new Set<string>();
  body.forEach((statement, index) => {
    if (index < split) {
      declaredNames(statement, rebound);
      // `const` → `let`, so the restore can rebind the name to the restored value.
      if (statement.type === "VariableDeclaration" && statement.kind === "const") {
        edits.push({ start: statement.start, end: statement.start + 5, text: "let", order: 1 });
      }
    }
    visit(statement);
  });

  const rebind = [...rebound].map((binding) => `${binding} = $restore(${binding});`).join(" ");
  const pause = `yield; ${rebind}\n`;
  const at = split < body.length ? (body[split] as Node).start : code.length;
  edits.push({ start: at, end: at, text: at === code.length ? `\n${pause}` : pause, order: 0 });

  edits.sort((a, b) => a.start - b.start || a.order - b.order);
  let out = "";
  let position = 0;
  for (const edit of edits) {
    out += code.slice(position, edit.start) + edit.text;
    position = edit.end;
  }
  out += code.slice(position);
  const params = ["$route", "$restore", ...harnessNames].join(", ");
  const directive = strict ? '"use strict";\n' : "";
  return `(function* (${params}) {${directive}${out}\n})`;
}

const ITERATOR_METHODS = new Set(["keys", "values", "entries", "next"]);

/** `x.keys()`, `x[Symbol.iterator]()`…, but not `Object.keys(x)`. */
function iteratorCall(callee: Node): boolean {
  if (callee.type !== "MemberExpression") return false;
  const object = callee.object as Node;
  const property = callee.property as Node;
  if (object.type === "Identifier" && (object.name === "Object" || object.name === "Reflect")) {
    return false;
  }
  if (callee.computed) return property.type === "MemberExpression";
  return ITERATOR_METHODS.has(property.name as string);
}

function isNode(value: unknown): value is Node {
  return typeof value === "object" && value !== null && typeof (value as Node).type === "string";
}

function routed(node: Node): boolean {
  if (node.type === "ArrayExpression" || node.type === "ObjectExpression") return true;
  if (node.type !== "NewExpression") return false;
  const callee = node.callee as Node;
  return callee.type === "Identifier" && ROUTED_CONSTRUCTORS.has(callee.name as string);
}

/** `Object.defineProperty` for a member expression, `verifyProperty` for an identifier. */
function name(node: Node): string | undefined {
  if (node.type === "Identifier") return node.name as string;
  if (node.type !== "MemberExpression" || node.computed) return undefined;
  const object = node.object as Node;
  const property = node.property as Node;
  if (object.type !== "Identifier") return undefined;
  return `${object.name as string}.${property.name as string}`;
}

/**
 * Whether a top-level statement may run an assertion (declarations of functions do not), or
 * makes an iterator: an iterator made in the setup would still walk the first request's values.
 */
function asserts(statement: Node): boolean {
  if (statement.type === "FunctionDeclaration" || statement.type === "ClassDeclaration") {
    return false;
  }
  let found = false;
  const visit = (node: Node): void => {
    if (found) return;
    if (
      node.type === "ThrowStatement" ||
      (node.type === "Identifier" && ASSERTION.test(node.name as string)) ||
      (node.type === "CallExpression" && iteratorCall(node.callee as Node))
    ) {
      found = true;
      return;
    }
    for (const [key, value] of Object.entries(node)) {
      if (key === "type") continue;
      if (Array.isArray(value)) {
        for (const item of value) if (isNode(item)) visit(item);
      } else if (isNode(value)) visit(value);
    }
  };
  visit(statement);
  return found;
}

/**
 * The bindings a setup statement declares that can hold routed values: `var` names anywhere
 * outside functions, `let`/`const` names at the top level.
 */
function declaredNames(statement: Node, names: Set<string>): void {
  const visit = (node: Node, top: boolean): void => {
    if (
      node.type === "FunctionDeclaration" ||
      node.type === "FunctionExpression" ||
      node.type === "ArrowFunctionExpression" ||
      node.type === "ClassDeclaration" ||
      node.type === "ClassExpression"
    ) {
      return;
    }
    if (node.type === "VariableDeclaration" && (top || node.kind === "var")) {
      for (const declarator of node.declarations as Node[])
        patternNames(declarator.id as Node, names);
    }
    for (const [key, value] of Object.entries(node)) {
      if (key === "type") continue;
      if (Array.isArray(value)) {
        for (const item of value) if (isNode(item)) visit(item, false);
      } else if (isNode(value)) visit(value, false);
    }
  };
  visit(statement, true);
}

function patternNames(pattern: Node, names: Set<string>): void {
  switch (pattern.type) {
    case "Identifier":
      names.add(pattern.name as string);
      return;
    case "ObjectPattern":
      for (const property of pattern.properties as Node[]) {
        patternNames(
          (property.type === "RestElement" ? property.argument : property.value) as Node,
          names,
        );
      }
      return;
    case "ArrayPattern":
      for (const element of pattern.elements as (Node | null)[])
        if (element) patternNames(element, names);
      return;
    case "AssignmentPattern":
      patternNames(pattern.left as Node, names);
      return;
    case "RestElement":
      patternNames(pattern.argument as Node, names);
      return;
  }
}
