#!/usr/bin/env node
// dashboard/lib/nex.js against the protocol reference's test vectors
// (Appendix A) and against Node's OpenSSL: SHA-512/256 and the jti, the
// signed workload JWT byte for byte, the sealed environment, the DEPLOY and
// STOP bodies, the iat clock. The signing and sealing checks use nkeys.js,
// the library the page bundles; without dashboard/node_modules they are
// skipped and the rest still runs.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { createRequire } from "node:module";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const DASH = path.resolve(here, "..", "..", "dashboard");
const nex = await import(path.join(DASH, "lib", "nex.js"));

let nkeys = null;
try {
  nkeys = createRequire(path.join(DASH, "package.json"))("nkeys.js");
} catch {
  console.log("# nkeys.js is not in dashboard/node_modules: signing and sealing tests skipped");
}
const needNkeys = nkeys ? {} : { skip: "nkeys.js missing (scripts/dashboard-build --deps)" };

const te = new TextEncoder();

// Appendix A
const ISSUER_SEED = "SAACFXIHHBJMPWCV4BVIYNSFVUGZIQPVKATH5YHDD2ZY5GS7KGRABEBZ7E";
const ISSUER_PUB = "AAD7JVSRVWVBTIBT5EG3BZEVHC4NT5ZDNVENGY7LNEAUVKORAYZXCJPH";
const SENDER_XKEY_SEED = "SXAAIDDDZFRNRZPSQIVNL4LVATOMBIRXN7ECDOVJWGDDTS5CZGUWIKWEFU";
const SENDER_XKEY_PUB = "XDQVNJYXAKD7NQWIIUVL25B34XU6PKNNJ4BQINJSGMN6ZCA5VGFUMHZC";
const NODE_XKEY_SEED = "SXAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H74KM";
const NODE_XKEY_PUB = "XCHUBRNNW2HSKYSK4WZBJ2TWPJXMSTMCTU6XWXQ22G5G6PRBHAUF76G7";
const JTI_INPUT = `{"iat":1714000000,"iss":"${ISSUER_PUB}","sub":"echoservice"}`;
const JTI = "RHLGSSUEFD5YLZ2TNZO2U4WDNSU25SL5AMT3EEK6SNWAJPP6NIHQ";
const PAYLOAD = `{"jti":"${JTI}","iat":1714000000,"iss":"${ISSUER_PUB}","sub":"echoservice","nats":{"hash":"abc12345TODOmakethisreal","version":2}}`;
const TOKEN =
  "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJqdGkiOiJSSExHU1NVRUZENVlMWjJUTlpPMlU0V0ROU1UyNVNMNUFNVDNFRUs2U05XQUpQUDZOSUhRIiwiaWF0IjoxNzE0MDAwMDAwLCJpc3MiOiJBQUQ3SlZTUlZXVkJUSUJUNUVHM0JaRVZIQzROVDVaRE5WRU5HWTdMTkVBVVZLT1JBWVpYQ0pQSCIsInN1YiI6ImVjaG9zZXJ2aWNlIiwibmF0cyI6eyJoYXNoIjoiYWJjMTIzNDVUT0RPbWFrZXRoaXNyZWFsIiwidmVyc2lvbiI6Mn19.MFbh3QNT0_FIct3bn1YD6m_9znYPqBM_rJdh6TNCgrMANTCnK4h1tbE0UF9LWQK5oXIOX4NZ_0uScxYs2GzDAQ";
const SEALED_ENV =
  "eGt2MQABAgMEBQYHCAkKCwwNDg8QERITFBUWF696/2IfRnyV15BLw4UlmfGzi42yTskFtQO9FSCaHCsYwiaktpf2AdgsGfEvFi2HHH6LQhI=";
const LOCATION_GO =
  '{"Scheme":"nats","Opaque":"","User":null,"Host":"NEXCLIFILES","Path":"/echoservice","RawPath":"","OmitHost":false,"ForceQuery":false,"RawQuery":"","Fragment":"","RawFragment":""}';

test("SHA-512/256 initial values and round constants are FIPS 180-4's", () => {
  const { IV512_256, K512, IV512 } = nex._constants;
  assert.equal(IV512[0].toString(16), "6a09e667f3bcc908");
  assert.equal(K512[0].toString(16), "428a2f98d728ae22");
  assert.equal(K512[79].toString(16), "6c44198c4a475817");
  assert.equal(IV512_256[0].toString(16), "22312194fc2bf72c");
  assert.equal(IV512_256[7].toString(16).padStart(16, "0"), "0eb72ddc81c52ca2");
});

test("SHA-512 and SHA-512/256 match OpenSSL at every padding boundary", () => {
  for (const n of [0, 1, 3, 55, 56, 63, 64, 111, 112, 113, 127, 128, 129, 239, 240, 255, 256, 1000]) {
    const b = crypto.randomBytes(n);
    assert.equal(nex.hex(nex.sha512(b)), crypto.createHash("sha512").update(b).digest("hex"), `sha512 of ${n} bytes`);
    assert.equal(
      nex.hex(nex.sha512_256(b)),
      crypto.createHash("sha512-256").update(b).digest("hex"),
      `sha512/256 of ${n} bytes`,
    );
  }
  // FIPS 180-4 example "abc"
  assert.equal(nex.hex(nex.sha512_256(te.encode("abc"))), "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23");
});

test("base32 and base64 codecs", () => {
  assert.equal(nex.base32Encode(te.encode("foobar")), "MZXW6YTBOI");
  assert.equal(nex.base32Encode(te.encode("f")), "MY");
  for (const n of [0, 1, 2, 3, 4, 5, 31, 32, 33]) {
    const b = crypto.randomBytes(n);
    assert.equal(nex.base64Encode(b), b.toString("base64"));
    assert.equal(nex.base64UrlEncode(b), b.toString("base64url"));
    assert.deepEqual(Buffer.from(nex.base64Decode(b.toString("base64"))), b);
    assert.deepEqual(Buffer.from(nex.base64Decode(b.toString("base64url"))), b);
  }
  assert.throws(() => nex.base64Decode("a$b="));
});

test("object store digest → hex (Appendix A: the bytes 'hello')", () => {
  assert.equal(
    nex.digestToHex("SHA-256=LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="),
    crypto.createHash("sha256").update("hello").digest("hex"),
  );
  assert.equal(nex.digestToHex("MD5=abc"), "");
  assert.equal(nex.digestToHex(undefined), "");
});

test("jti of the Appendix A claims", () => {
  const c = { iat: 1714000000, iss: ISSUER_PUB, sub: "echoservice" };
  assert.equal(nex.computeJti(c), JTI);
  assert.equal(
    nex.base32Encode(crypto.createHash("sha512-256").update(JTI_INPUT).digest()),
    JTI,
    "the reference jti is base32(SHA-512/256(standard claims))",
  );
  // jti ignores nats (hash), so it only changes with the standard claims
  assert.equal(nex.computeJti({ ...c, hash: "other" }), JTI);
  assert.notEqual(nex.computeJti({ ...c, iat: c.iat + 1 }), JTI);
});

test("claims JSON: Go's field order, nats keys sorted, stop claims without hash", () => {
  const c = { jti: JTI, iat: 1714000000, iss: ISSUER_PUB, sub: "echoservice", hash: "abc12345TODOmakethisreal" };
  assert.equal(nex.claimsJson(c), PAYLOAD);
  const stop = { jti: "J", iat: 5, iss: "A", sub: "x" };
  assert.equal(nex.claimsJson(stop), '{"jti":"J","iat":5,"iss":"A","sub":"x","nats":{"version":2}}');
  assert.equal(
    nex.claimsJson({ aud: "a", exp: 9, jti: "J", iat: 5, iss: "A", name: "n", nbf: 4, sub: "x", hash: "" }),
    '{"aud":"a","exp":9,"jti":"J","iat":5,"iss":"A","name":"n","nbf":4,"sub":"x","nats":{"hash":"","version":2}}',
  );
  assert.equal(nex.goString("a<b>&\u2028"), '"a\\u003cb\\u003e\\u0026\\u2028"');
});

test("the Appendix A workload JWT, byte for byte, signed with nkeys.js", needNkeys, () => {
  const kp = nkeys.fromSeed(te.encode(ISSUER_SEED));
  assert.equal(kp.getPublicKey(), ISSUER_PUB);
  const { token, claims } = nex.encodeJwt({ sub: "echoservice", iat: 1714000000, hash: "abc12345TODOmakethisreal" }, kp);
  assert.equal(token, TOKEN);
  assert.equal(claims.jti, JTI);
  assert.equal(claims.iss, ISSUER_PUB);
  assert.deepEqual(nex.decodeJwtPayload(token), JSON.parse(PAYLOAD));
  // and the signature verifies as the node checks it (V2: header.payload)
  const [h, p, s] = token.split(".");
  assert.ok(kp.verify(te.encode(`${h}.${p}`), nex.base64Decode(s)));
  assert.throws(() => nex.encodeJwt({ iat: 1 }, kp), /subject is not set/);
});

test("a stop JWT: no hash claim, iat newer than the deploy's", needNkeys, () => {
  const kp = nkeys.createAccount();
  const clock = new nex.IatClock(() => 1000);
  const deploy = nex.encodeJwt({ sub: "ticker", iat: clock.next(), hash: "ab" }, kp);
  const stop = nex.encodeJwt({ sub: "ticker", iat: clock.next() }, kp);
  const dp = nex.decodeJwtPayload(deploy.token);
  const sp = nex.decodeJwtPayload(stop.token);
  assert.ok(sp.iat > dp.iat);
  assert.notEqual(sp.jti, dp.jti);
  assert.deepEqual(sp.nats, { version: 2 });
  assert.equal(sp.iss, dp.iss);
});

test("IatClock: max(now, last + 1), never backwards", () => {
  let now = 100;
  const c = new nex.IatClock(() => now);
  assert.equal(c.next(), 100);
  assert.equal(c.next(), 101);
  assert.equal(c.next(), 102);
  now = 200;
  assert.equal(c.next(), 200);
  c.observe(300); // a deploy JWT minted elsewhere
  assert.equal(c.next(), 301);
  now = 50; // the wall clock went back
  assert.equal(c.next(), 302);
});

test("environment: KEY=VALUE lines, Go's sorted map JSON, null when empty", () => {
  assert.deepEqual(nex.parseEnv("B=2\n# comment\n\n A=x=y \r\nC="), { B: "2", A: "x=y", C: "" });
  assert.throws(() => nex.parseEnv("NOEQUALS"), /line 1 is not KEY=VALUE/);
  assert.throws(() => nex.parseEnv("=v"), /not KEY=VALUE/);
  assert.equal(nex.envJson({ B: "2", A: "<1>" }), '{"A":"\\u003c1\\u003e","B":"2"}');
  assert.equal(nex.envJson({}), "null");
});

test("the Appendix A sealed environment, byte for byte, with nkeys.js", needNkeys, () => {
  const sender = nkeys.fromCurveSeed(te.encode(SENDER_XKEY_SEED));
  assert.equal(sender.getPublicKey(), SENDER_XKEY_PUB);
  const nonce = Uint8Array.from({ length: 24 }, (_, i) => i);
  const env = nex.sealEnv({ NATS_URL: "nats://127.0.0.1:4222" }, NODE_XKEY_PUB, sender, nonce);
  assert.equal(env, SEALED_ENV);
  // the node opens it with its key and the sender's public key
  const node = nkeys.fromCurveSeed(te.encode(NODE_XKEY_SEED));
  assert.equal(node.getPublicKey(), NODE_XKEY_PUB);
  const plain = node.open(nex.base64Decode(nex.sealEnv({ K: "v" }, NODE_XKEY_PUB, sender)), SENDER_XKEY_PUB);
  assert.equal(new TextDecoder().decode(plain), '{"K":"v"}');
});

test("DEPLOY body: the Go client's fields and order, location as Go's URL object", () => {
  const body = nex.deployRequestJson({
    description: "Workload published in devmode",
    type: "elf",
    bucket: "NEXCLIFILES",
    key: "echoservice",
    workloadJwt: "J",
    environment: "E",
    senderPublicKey: SENDER_XKEY_PUB,
    targetNode: "NAU2ZOXBIG6MV4FSFYNJJU2NBPDTMHSSNUF74EWIS6KLZEZCSZW5PVNH",
  });
  assert.equal(
    body,
    `{"description":"Workload published in devmode","type":"elf","location":${LOCATION_GO},"essential":false,` +
      `"workload_jwt":"J","environment":"E","jsdomain":"","sender_public_key":"${SENDER_XKEY_PUB}",` +
      `"target_node":"NAU2ZOXBIG6MV4FSFYNJJU2NBPDTMHSSNUF74EWIS6KLZEZCSZW5PVNH"}`,
  );
  const withArgv = JSON.parse(nex.deployRequestJson({ argv: ["-v"], type: "native", bucket: "B", key: "k", essential: true }));
  assert.deepEqual(Object.keys(withArgv).slice(0, 2), ["argv", "description"]);
  assert.equal(withArgv.essential, true);
});

test("STOP body and reply envelopes", () => {
  assert.equal(nex.stopRequestJson("w1", "J", "N1"), '{"workload_id":"w1","workload_jwt":"J","target_node":"N1"}');
  assert.deepEqual(nex.unwrapEnvelope('{"type":"io.nats.nex.v1.stop_response","data":{"stopped":true}}'), { stopped: true });
  assert.throws(() => nex.unwrapEnvelope('{"type":"x","data":"","error":"No such workload"}'), /^Error: No such workload$/);
  assert.throws(() => nex.unwrapEnvelope("garbage"), /not a JSON envelope/);
  assert.ok(nex.NAME_RE.test("ticker_2-a") && !nex.NAME_RE.test("a.b") && !nex.NAME_RE.test(""));
});

test("SHA-256 matches OpenSSL at every padding boundary", () => {
  for (let n = 0; n < 200; n++) {
    const s = "x".repeat(n);
    assert.equal(nex.hex(nex.sha256(s)), crypto.createHash("sha256").update(s).digest("hex"), `length ${n}`);
  }
});

// The same vectors as tests/unit/api/test_deploy_digest.c: what the page
// binds a token to is what the node computes (api/deploy_request.c).
test("deploy digest: the node's, byte for byte", () => {
  const plain = {
    description: "",
    type: "native",
    bucket: "NEXCLIFILES",
    key: "ticker",
    essential: false,
    environment: "ZW52",
    senderPublicKey: "XSENDER",
    targetNode: "NNODE",
  };
  assert.equal(nex.deployDigest(plain), "793693388cc4f22c30f847298eb40dfe0ccaaaf5327c48addc279ae2df934f90");
  const escaped = { ...plain, argv: ["a<b", "x&y"], description: "dé <x>", bucket: "B", key: "k", essential: true };
  assert.equal(nex.deployDigest(escaped), "6339aadbb0c7d104d65060a5394ae7dc0c14eacf98d96b0101e1f7e3062eee6c");
  // the workload's own NATS permissions (the "nats" extension)
  const nats = { ...plain, nats: { publish: ["probe.out", "a.<b>"], subscribe: ["in.*"] } };
  assert.equal(nex.deployDigest(nats), "2bb383eb670efa02973b181cf20f1564868815ba95c09b570b579f0a41e9f4a9");
  assert.equal(nex.deployDigest({ ...plain, nats: { publish: [] } }), nex.deployDigest(plain));
  // the token itself is not part of it, everything that decides what runs is
  assert.notEqual(nex.deployDigest({ ...plain, environment: "ZW53" }), nex.deployDigest(plain));
});

test("bound-token claims ride in nats, in Go's map order", () => {
  const json = nex.claimsJson({ sub: "w", iat: 1, jti: "J", iss: "A", hash: "h", purpose: "stop", bind: "id1", aud: "N" });
  assert.ok(json.endsWith(`"nats":{"hash":"h","nexc_bind":"id1","nexc_purpose":"stop","version":2}}`), json);
  assert.ok(json.startsWith(`{"aud":"N",`), json);
});
