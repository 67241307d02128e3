// A receipt computer (レセコン) keeping shikakud's reception list open, in Node (@grpc/grpc-js).
//
// It prints each entry once, in order, as one JSON object per line
// ({"id", "date", "patient_number", "name", "status", "source"}), and after a disconnect or a daemon
// restart reconnects and resumes after the last entry it recorded (kept in --state), skipping any
// entry it already has (same id). The code is generated at start from ../../proto by proto-loader.
//
//   npm ci
//   node receipt-computer.js --addr 127.0.0.1:50051 --state last-id.txt
//
// With --ca, --cert and --key (or SHIKAKU_CA, SHIKAKU_CERT, SHIKAKU_KEY), from
// `shikaku tls client NAME --role reception`, it talks TLS and presents its certificate; without
// them, plaintext (which shikakud allows on loopback only).
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const { parseArgs } = require("node:util");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const PROTO_ROOT = process.env.SHIKAKU_PROTO_ROOT || path.join(__dirname, "..", "..", "proto");

const { values: args } = parseArgs({
  options: {
    addr: { type: "string", default: process.env.SHIKAKU_ADDR || "127.0.0.1:50051" },
    date: { type: "string", default: "" },
    state: { type: "string" },
    "exit-after": { type: "string" },
    ca: { type: "string", default: process.env.SHIKAKU_CA },
    cert: { type: "string", default: process.env.SHIKAKU_CERT },
    key: { type: "string", default: process.env.SHIKAKU_KEY },
    "tls-domain": { type: "string", default: process.env.SHIKAKU_TLS_DOMAIN },
  },
});
const exitAfter = args["exit-after"] === undefined ? null : Number(args["exit-after"]);
const target = args.addr.replace(/^https?:\/\//, "");

// TLS when TLS files are given or the address is https://, else plaintext.
function channelCredentials() {
  const tls = args.addr.startsWith("https://") || args.ca || args.cert || args.key;
  if (!tls) return { credentials: grpc.credentials.createInsecure(), options: {} };
  if (Boolean(args.cert) !== Boolean(args.key)) {
    console.error("receipt-computer: --cert and --key (SHIKAKU_CERT, SHIKAKU_KEY) go together");
    process.exit(2);
  }
  const read = (file) => {
    if (!file) return null;
    try {
      return fs.readFileSync(file);
    } catch (e) {
      console.error(`receipt-computer: cannot read ${file}: ${e.message}`);
      process.exit(2);
    }
  };
  const credentials = grpc.credentials.createSsl(read(args.ca), read(args.key), read(args.cert));
  const domain = args["tls-domain"];
  return { credentials, options: domain ? { "grpc.ssl_target_name_override": domain } : {} };
}
const channel = channelCredentials();

const definition = protoLoader.loadSync("shikaku/v1/reception.proto", {
  includeDirs: [PROTO_ROOT],
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const v1 = grpc.loadPackageDefinition(definition).shikaku.v1;

function load() {
  try {
    return args.state ? BigInt(fs.readFileSync(args.state, "utf8").trim()) : 0n;
  } catch {
    return 0n;
  }
}

// Written beside and renamed over, so a crash leaves the old or the new id.
function save(last) {
  if (!args.state) return;
  const tmp = `${args.state}.tmp`;
  fs.writeFileSync(tmp, last.toString());
  fs.renameSync(tmp, args.state);
}

let last = load();
let printed = 0;
let backoff = 100;

function watch() {
  const client = new v1.ReceptionService(target, channel.credentials, channel.options);
  const call = client.WatchReceptions({ date: args.date, afterId: last.toString() });
  let reconnecting = false;
  const again = (why) => {
    if (reconnecting) return;
    reconnecting = true;
    client.close();
    process.stderr.write(`${why}; retrying in ${backoff} ms\n`);
    setTimeout(watch, backoff);
    backoff = Math.min(backoff * 2, 5000);
  };
  call.on("data", ({ entry }) => {
    backoff = 100;
    if (!entry) return;
    const id = BigInt(entry.id);
    if (id <= last) return;
    process.stdout.write(
      JSON.stringify({
        id: Number(id),
        date: entry.date,
        patient_number: entry.patientNumber,
        name: entry.name,
        status: entry.status,
        source: entry.source,
      }) + "\n",
    );
    last = id;
    save(last);
    printed += 1;
    if (exitAfter !== null && printed >= exitAfter) {
      reconnecting = true;
      call.cancel();
      client.close();
      process.exitCode = 0;
    }
  });
  call.on("error", (e) => {
    if (e.code !== grpc.status.CANCELLED || !reconnecting) again(`cannot watch receptions (${e.details || e.message})`);
  });
  call.on("end", () => again(`reception stream ended after #${last}`));
}

watch();
