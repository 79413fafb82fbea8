// The command line's grammar: every verb is a declarative entry (its
// arguments, options, examples and handler), and this module turns such a
// table into a parser, per-verb help, and one-line errors with a suggestion.
// A verb or an option is added by adding an entry; nothing else changes.

import { UserError } from "./errors.ts";

/** An option of a verb. Options without `value` are switches. */
export interface OptionSpec {
  /** "--mem" */
  name: string;
  /** Placeholder of the value in help ("<size>"); absent: a switch that takes no value. */
  value?: string;
  /** The value may be left out (`--gdb` or `--gdb 1234`); `optionalDefault` is used then. */
  optionalDefault?: string;
  /** The only values accepted. */
  choices?: readonly string[];
  /** May be given more than once (all values are kept, in order). */
  repeat?: boolean;
  /** One line for the help. */
  help: string;
  /** Shown in the help as the default. */
  default?: string;
  /** Checks a value; returns what is wrong with it, or undefined. */
  check?: (value: string) => string | undefined;
  /**
   * This option only makes sense together with another option's value:
   * with `implies` the other option is set to that value when it was not
   * given (and refused when it was given something else), otherwise the
   * combination is refused.
   */
  needs?: { option: string; values: readonly string[]; implies?: boolean };
  /**
   * Options of other verbs that this one stands in for (node's `--until`
   * for boot's `--timeout`): given to this verb, they are refused with a
   * pointer here rather than a bare "unknown option".
   */
  insteadOf?: readonly string[];
}

export interface VerbSpec {
  name: string;
  /** Positional arguments in help ("<app|image>", "[app]"). */
  args: string;
  /** How many positional arguments the verb takes. */
  positional: { min: number; max: number };
  /** One line in the verb list. */
  summary: string;
  /** A few sentences for the verb's own help. */
  description?: string;
  options: OptionSpec[];
  /** Command lines shown under "examples", each with a comment. */
  examples: [command: string, what: string][];
  /** What follows `--` (e.g. "<extra qemu args>"); absent: `--` is refused. */
  rest?: string;
  /** Passes all its arguments through untouched (e.g. to vitest). */
  passThrough?: boolean;
  /** Works only from a source checkout of uniwasm; says why otherwise. */
  checkoutOnly?: string;
  run: (p: Parsed) => Promise<number>;
}

export interface Parsed {
  verb: VerbSpec;
  positional: string[];
  flags: Map<string, string[]>;
  rest: string[];
  /** The options given on the command line (not those set by `implies`). */
  given: Set<string>;
}

export const EXIT_USAGE = 2;

/** Reads a verb's arguments against its table; every error is one line. */
export function parseArgs(verb: VerbSpec, argv: string[], all: readonly VerbSpec[] = []): Parsed {
  const p: Parsed = { verb, positional: [], flags: new Map(), rest: [], given: new Set() };
  if (verb.passThrough) {
    p.positional = argv;
    return p;
  }
  const byName = new Map(verb.options.map((o) => [o.name, o]));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      if (!verb.rest) throw usageError(verb, `${verb.name} takes nothing after --`);
      p.rest = argv.slice(i + 1);
      break;
    }
    if (a.startsWith("-") && a !== "-") {
      const [k, inline] = a.split(/=(.*)/s, 2);
      const o = byName.get(k);
      if (!o) {
        const hint = suggest(k, verb.options.map((x) => x.name));
        const elsewhere = all.filter((v) => v !== verb && v.options.some((x) => x.name === k)).map((v) => v.name);
        const own = verb.options.find((x) => x.insteadOf?.includes(k));
        const of = `${k} is an option of ${elsewhere.length > 1 ? `${elsewhere.slice(0, -1).join(", ")} and ${elsewhere[elsewhere.length - 1]}` : elsewhere[0]}`;
        const why = hint ? ` (did you mean ${hint}?)`
          : own ? ` (${elsewhere.length ? `${of}; ` : ""}${verb.name}'s is ${own.name}${own.value ? ` ${own.value}` : ""})`
          : elsewhere.length ? ` (${of}, not of ${verb.name})` : "";
        throw usageError(verb, `${verb.name}: unknown option ${k}${why}`);
      }
      let v: string;
      if (!o.value) {
        if (inline !== undefined) throw usageError(verb, `${k} takes no value`);
        v = "";
      } else if (inline !== undefined) v = inline;
      else if (o.optionalDefault !== undefined) {
        const next = argv[i + 1];
        // A number after the option is its value: checked, so `--gdb 99999`
        // says what is wrong with the port rather than taking it for an app.
        v = next !== undefined && /^\d/.test(next) ? argv[++i] : o.optionalDefault;
      } else {
        const next = argv[++i];
        if (next === undefined) throw usageError(verb, `${k} needs a value ${o.value}`);
        v = next;
      }
      if (o.choices && !o.choices.includes(v)) throw usageError(verb, `${k} ${v}: expected one of ${o.choices.join(", ")}`);
      const bad = o.check?.(v);
      if (bad) throw usageError(verb, `${k} ${v}: ${bad}`);
      const prev = p.flags.get(k);
      if (prev && !o.repeat) throw usageError(verb, `${k} given more than once`);
      p.flags.set(k, [...(prev ?? []), v]);
      p.given.add(k);
    } else p.positional.push(a);
  }
  const { min, max } = verb.positional;
  if (p.positional.length < min || p.positional.length > max) {
    const n = min === max ? `exactly ${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
    throw usageError(verb, `${verb.name} takes ${n} argument${max === 1 && min === 1 ? "" : "s"} (${verb.args || "none"}), got ${p.positional.length}`);
  }
  for (const o of verb.options) {
    if (!o.needs || !p.flags.has(o.name)) continue;
    const other = p.flags.get(o.needs.option)?.[0];
    if (other === undefined && o.needs.implies) p.flags.set(o.needs.option, [o.needs.values[0]]);
    else if (other === undefined || !o.needs.values.includes(other)) {
      const want = o.needs.values.map((v) => `${o.needs!.option} ${v}`).join(" or ");
      throw usageError(verb, `${o.name} needs ${want}${other !== undefined ? `, not ${o.needs.option} ${other}` : ""}`);
    }
  }
  return p;
}

/** The value of an option that is given at most once. */
export function one(p: Parsed, flag: string): string | undefined {
  return p.flags.get(flag)?.[0];
}

export function has(p: Parsed, flag: string): boolean {
  return p.flags.has(flag);
}

/** A one-line error that points to the verb's help. */
export function usageError(verb: VerbSpec | undefined, message: string): UserError {
  const see = verb ? `uniwasm ${verb.name} --help` : "uniwasm --help";
  return new UserError(`${message}; see ${see}`, EXIT_USAGE);
}

/** The closest of `candidates` to `word`, when it is close enough to be a typo. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = c.startsWith(word) && word.length >= 3 ? 0.5 : distance(word, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  const limit = Math.max(1, Math.floor(Math.max(word.length, 3) / 3));
  return bestD <= limit ? best : undefined;
}

/** Levenshtein distance with adjacent transpositions (a typo's usual shapes). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** `uniwasm <verb> --help`. */
export function verbHelp(verb: VerbSpec): string {
  const lines = [`usage: uniwasm ${verb.name}${verb.args ? " " + verb.args : ""}${verb.options.length ? " [options]" : ""}${verb.rest ? ` [-- ${verb.rest}]` : ""}`, "", `  ${verb.summary}`];
  if (verb.description) lines.push("", ...wrap(verb.description, 76).map((l) => "  " + l));
  if (verb.checkoutOnly) lines.push("", `  Needs a source checkout of uniwasm: ${verb.checkoutOnly}`);
  if (verb.options.length) {
    lines.push("", "options:");
    const heads = verb.options.map((o) => `  ${o.name}${o.value ? (o.optionalDefault !== undefined ? ` [${o.value.replace(/^<|>$/g, "")}]` : ` ${o.value}`) : ""}`);
    const width = Math.min(30, Math.max(...heads.map((h) => h.length)) + 2);
    verb.options.forEach((o, i) => {
      const extra = [o.choices ? `one of ${o.choices.join(", ")}` : "", o.default ? `default ${o.default}` : "", o.repeat ? "may be repeated" : ""].filter(Boolean).join("; ");
      const text = o.help + (extra ? ` (${extra})` : "");
      const h = heads[i];
      const body = wrap(text, 96 - width).map((l, j) => (j ? " ".repeat(width) + l : l));
      if (h.length + 1 > width) lines.push(h, ...body.map((l, j) => (j ? l : " ".repeat(width) + l)));
      else lines.push(h.padEnd(width) + body[0], ...body.slice(1));
    });
  }
  if (verb.examples.length) {
    lines.push("", "examples:");
    for (const [cmd, what] of verb.examples) lines.push(`  ${cmd}`, `      ${what}`);
  }
  return lines.join("\n");
}

/** `uniwasm --help`: the verb list. */
export function overview(verbs: VerbSpec[], version: string): string {
  const width = Math.max(...verbs.map((v) => v.name.length)) + 2;
  return [
    `uniwasm ${version}: unikernels in AssemblyScript, booted on QEMU or run in Node`,
    "",
    "usage: uniwasm <verb> [arguments] [options]",
    "",
    "verbs:",
    ...verbs.map((v) => `  ${v.name.padEnd(width)}${v.summary}`),
    "",
    "Each verb has its own help with examples: uniwasm <verb> --help (or uniwasm help <verb>).",
    "uniwasm --version prints the version.",
  ].join("\n");
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  for (const para of text.split("\n")) {
    let line = "";
    for (const w of para.split(/\s+/).filter(Boolean)) {
      if (line && line.length + 1 + w.length > width) {
        out.push(line);
        line = w;
      } else line = line ? `${line} ${w}` : w;
    }
    out.push(line);
  }
  return out;
}
