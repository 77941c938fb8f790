// Renders a batch of cases with handlebars.js: argv[2] = cases JSON file, argv[3] = output file.
// The helpers below are the JavaScript twins of renewflow.templates.helpers.
"use strict";
const fs = require("fs");
const Handlebars = require("handlebars");

const JS_HELPERS = {
  eq: (a, b) => a === b,
  ne: (a, b) => a !== b,
  gt: (a, b) => a > b,
  gte: (a, b) => a >= b,
  lt: (a, b) => a < b,
  lte: (a, b) => a <= b,
  and: (...args) => args.slice(0, -1).every(Boolean),
  or: (...args) => args.slice(0, -1).some(Boolean),
  not: (a) => !a,
  abs: (a) => Math.abs(a),
  default: (v, d) => (v === null || v === undefined || v === "" ? d : v),
  len: (v) =>
    Array.isArray(v) || typeof v === "string"
      ? v.length
      : v && typeof v === "object"
        ? Object.keys(v).length
        : 0,
  join: (arr, sep) =>
    Array.isArray(arr) ? arr.join(typeof sep === "string" ? sep : ", ") : "",
  upper: (v) => (v == null ? "" : String(v)).toUpperCase(),
  lower: (v) => (v == null ? "" : String(v)).toLowerCase(),
  round: (v, d) => {
    const n = typeof d === "number" ? Math.trunc(d) : 0;
    const f = 10 ** n;
    return Math.round(Number(v) * f) / f;
  },
  json: (v) => new Handlebars.SafeString(JSON.stringify(v) ?? ""),
};

function render(c) {
  const env = Handlebars.create();
  for (const [name, fn] of Object.entries(JS_HELPERS)) env.registerHelper(name, fn);
  for (const [name, src] of Object.entries(c.partials || {})) env.registerPartial(name, src);
  try {
    const t = env.compile(c.source, { noEscape: !c.escape, strict: !!c.strict });
    return { ok: t(c.context) };
  } catch (e) {
    return { error: String(e && e.message) };
  }
}

const cases = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
fs.writeFileSync(process.argv[3], JSON.stringify(cases.map(render)));
