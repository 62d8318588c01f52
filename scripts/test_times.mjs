#!/usr/bin/env node
// Reads the JUnit file a ctest run wrote (ctest --output-junit FILE) and prints the N
// slowest tests with their time budgets, then every test over its budget.
//   node scripts/test_times.mjs JUNIT_XML SUITE [N]
// SUITE names the column of tests/time_budgets.tsv to use (normal or sanitizer). A test
// matches the first row whose pattern (a JavaScript regular expression, matched against the
// whole ctest name) fits it; a test that matches no row has the file's `*` budget.
// Exit status: 0 (an over-budget test is a warning printed in the output, not a failure;
// ctest's own TIMEOUT is the hard limit); 2 for unreadable input.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const [file, suite, topArg] = process.argv.slice(2);
if (!file || !suite) {
  console.error("usage: node scripts/test_times.mjs JUNIT_XML normal|sanitizer [N]");
  process.exit(2);
}
const top = Number(topArg || 15);

function loadBudgets() {
  const path = join(dirname(fileURLToPath(import.meta.url)), "..", "tests", "time_budgets.tsv");
  const rows = [];
  let column = -1;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (!line.trim() || line.startsWith("#")) continue;
    const cells = line.split("\t").map((c) => c.trim()).filter((c) => c !== "");
    if (column < 0) {  // the header: pattern, then one column per suite
      column = cells.indexOf(suite);
      if (column < 1) throw new Error(`${path}: no column named ${suite}`);
      continue;
    }
    const seconds = Number(cells[column]);
    if (!Number.isFinite(seconds)) throw new Error(`${path}: bad budget in: ${line}`);
    rows.push({ pattern: cells[0], re: cells[0] === "*" ? /.*/ : new RegExp(`^(?:${cells[0]})$`), seconds });
  }
  const fallback = rows.find((r) => r.pattern === "*");
  if (!fallback) throw new Error(`${path}: no default row (*)`);
  return (name) => rows.find((r) => r.pattern !== "*" && r.re.test(name)) || fallback;
}

let xml;
try {
  xml = readFileSync(file, "utf8");
} catch (e) {
  console.error(`test_times: cannot read ${file}: ${e.message}`);
  process.exit(2);
}
const unescape = (s) => s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"')
  .replace(/&apos;/g, "'").replace(/&amp;/g, "&");
const tests = [];
for (const m of xml.matchAll(/<testcase\b([^>]*)>/g)) {
  const attrs = Object.fromEntries([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((a) => [a[1], unescape(a[2])]));
  if (attrs.name === undefined || attrs.time === undefined) continue;
  tests.push({ name: attrs.name, seconds: Number(attrs.time), status: attrs.status || "" });
}
if (tests.length === 0) {
  console.error(`test_times: no test cases in ${file}`);
  process.exit(2);
}
const budgetOf = loadBudgets();
const total = tests.reduce((s, t) => s + t.seconds, 0);
tests.sort((a, b) => b.seconds - a.seconds);
const fmt = (s) => s.toFixed(1).padStart(7);
console.log(`${suite} suite: ${tests.length} tests, ${total.toFixed(0)} s of test time (summed, ` +
            `not wall time); the ${Math.min(top, tests.length)} slowest:`);
console.log(`  ${"seconds".padStart(7)}  ${"budget".padStart(6)}  test`);
for (const t of tests.slice(0, top)) {
  const b = budgetOf(t.name).seconds;
  console.log(`  ${fmt(t.seconds)}  ${String(b).padStart(6)}  ${t.name}${t.seconds > b ? "  OVER BUDGET" : ""}`);
}
const over = tests.filter((t) => t.seconds > budgetOf(t.name).seconds);
for (const t of over) {
  const b = budgetOf(t.name);
  console.log(`OVER BUDGET (${suite}): ${t.name} took ${t.seconds.toFixed(1)} s, budget ${b.seconds} s ` +
              `(tests/time_budgets.tsv: ${b.pattern})`);
}
