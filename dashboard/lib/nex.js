// nex.js: the byte formats a Nex v0.2 control client needs, for the browser
// and for Node (no DOM, no NATS): SHA-512/256, base32/base64 codecs, the
// NATS generic-claims JWT (reference §8.7), the sealed environment (§2.5,
// §8.3) and the DEPLOY / STOP request bodies exactly as the Go client (and
// api/nexc.c) lays them out (§2.1, §3.1).
//
// Signing and sealing take nkeys.js key pairs (fromSeed / createCurve), so
// this module itself holds no secrets and has no dependencies.

const te = new TextEncoder();

// ---- SHA-512 family (FIPS 180-4) ----------------------------------------
//
// WebCrypto has SHA-512 but not SHA-512/256, whose jti the Go jwt library
// computes. Inputs are a few hundred bytes, so BigInt arithmetic is plenty.
// The round constants and initial values are derived at load time exactly as
// FIPS 180-4 defines them (fractional parts of cube / square roots of the
// first primes; §5.3.6 for the SHA-512/t IV), which leaves no 80-entry table
// to mistype; the tests check the results against Node's OpenSSL.

const M64 = (1n << 64n) - 1n;

function firstPrimes(n) {
  const out = [];
  for (let c = 2; out.length < n; c++) {
    if (out.every((p) => c % p !== 0)) out.push(c);
  }
  return out;
}

// floor(x^(1/k)) for a non-negative BigInt, by Newton's method.
function iroot(x, k) {
  if (x < 2n) return x;
  const kb = BigInt(k);
  let r = 1n << BigInt(Math.ceil(x.toString(2).length / k)); // >= the root
  for (;;) {
    const next = ((kb - 1n) * r + x / r ** (kb - 1n)) / kb;
    if (next >= r) return r;
    r = next;
  }
}

const PRIMES = firstPrimes(80);
// First 64 bits of the fractional part of the cube root of p: the cube root
// of p·2^192 carries 64 fractional bits.
const K512 = PRIMES.map((p) => iroot(BigInt(p) << 192n, 3) & M64);
const IV512 = PRIMES.slice(0, 8).map((p) => iroot(BigInt(p) << 128n, 2) & M64);

function rotr(x, n) {
  return ((x >> n) | (x << (64n - n))) & M64;
}

function sha512Core(bytes, iv) {
  const data = bytes instanceof Uint8Array ? bytes : te.encode(String(bytes));
  const bitLen = BigInt(data.length) * 8n;
  const padded = new Uint8Array(Math.ceil((data.length + 17) / 128) * 128);
  padded.set(data);
  padded[data.length] = 0x80;
  const dv = new DataView(padded.buffer);
  dv.setBigUint64(padded.length - 8, bitLen & M64); // the high 64 bits stay 0
  const H = iv.slice();
  const W = new Array(80);
  for (let off = 0; off < padded.length; off += 128) {
    for (let t = 0; t < 16; t++) W[t] = dv.getBigUint64(off + t * 8);
    for (let t = 16; t < 80; t++) {
      const s0 = rotr(W[t - 15], 1n) ^ rotr(W[t - 15], 8n) ^ (W[t - 15] >> 7n);
      const s1 = rotr(W[t - 2], 19n) ^ rotr(W[t - 2], 61n) ^ (W[t - 2] >> 6n);
      W[t] = (W[t - 16] + s0 + W[t - 7] + s1) & M64;
    }
    let [a, b, c, d, e, f, g, h] = H;
    for (let t = 0; t < 80; t++) {
      const S1 = rotr(e, 14n) ^ rotr(e, 18n) ^ rotr(e, 41n);
      const ch = (e & f) ^ (~e & M64 & g);
      const t1 = (h + S1 + ch + K512[t] + W[t]) & M64;
      const S0 = rotr(a, 28n) ^ rotr(a, 34n) ^ rotr(a, 39n);
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) & M64;
      h = g;
      g = f;
      f = e;
      e = (d + t1) & M64;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) & M64;
    }
    H[0] = (H[0] + a) & M64;
    H[1] = (H[1] + b) & M64;
    H[2] = (H[2] + c) & M64;
    H[3] = (H[3] + d) & M64;
    H[4] = (H[4] + e) & M64;
    H[5] = (H[5] + f) & M64;
    H[6] = (H[6] + g) & M64;
    H[7] = (H[7] + h) & M64;
  }
  const out = new Uint8Array(64);
  const ov = new DataView(out.buffer);
  H.forEach((v, i) => ov.setBigUint64(i * 8, v));
  return out;
}

function ivFromDigest(d) {
  const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
  return Array.from({ length: 8 }, (_, i) => v.getBigUint64(i * 8));
}

// FIPS 180-4 §5.3.6: SHA-512 with the IV xor a5a5…, over "SHA-512/256".
const IV512_256 = ivFromDigest(
  sha512Core(te.encode("SHA-512/256"), IV512.map((v) => v ^ 0xa5a5a5a5a5a5a5a5n)),
);

/** SHA-512 of bytes (or of a string's UTF-8). */
export function sha512(bytes) {
  return sha512Core(bytes, IV512);
}

/** FIPS 180-4 SHA-512/256 (its own IV, then the first 32 bytes). */
export function sha512_256(bytes) {
  return sha512Core(bytes, IV512_256).slice(0, 32);
}

// ---- SHA-256 (FIPS 180-4), for the digest a bound deploy token names ----
//
// WebCrypto has it, but only in secure contexts and only asynchronously;
// this is small. Constants derived as for SHA-512: the first 32 bits of the
// fractional parts of the cube roots (K) and square roots (IV) of the
// first primes.

const K256 = PRIMES.slice(0, 64).map((p) => Number(iroot(BigInt(p) << 96n, 3) & 0xffffffffn));
const IV256 = PRIMES.slice(0, 8).map((p) => Number(iroot(BigInt(p) << 64n, 2) & 0xffffffffn));

function rotr32(x, n) {
  return (x >>> n) | (x << (32 - n));
}

/** SHA-256 of bytes (or of a string's UTF-8). */
export function sha256(bytes) {
  const data = bytes instanceof Uint8Array ? bytes : te.encode(String(bytes));
  const padded = new Uint8Array(Math.ceil((data.length + 9) / 64) * 64);
  padded.set(data);
  padded[data.length] = 0x80;
  const dv = new DataView(padded.buffer);
  dv.setBigUint64(padded.length - 8, BigInt(data.length) * 8n);
  const h = IV256.slice();
  const w = new Array(64);
  for (let off = 0; off < padded.length; off += 64) {
    for (let t = 0; t < 16; t++) w[t] = dv.getUint32(off + t * 4);
    for (let t = 16; t < 64; t++) {
      const s0 = rotr32(w[t - 15], 7) ^ rotr32(w[t - 15], 18) ^ (w[t - 15] >>> 3);
      const s1 = rotr32(w[t - 2], 17) ^ rotr32(w[t - 2], 19) ^ (w[t - 2] >>> 10);
      w[t] = (w[t - 16] + s0 + w[t - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let t = 0; t < 64; t++) {
      const t1 = (hh + (rotr32(e, 6) ^ rotr32(e, 11) ^ rotr32(e, 25)) + ((e & f) ^ (~e & g)) + K256[t] + w[t]) >>> 0;
      const t2 = ((rotr32(a, 2) ^ rotr32(a, 13) ^ rotr32(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) >>> 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) >>> 0;
    }
    [a, b, c, d, e, f, g, hh].forEach((v, i) => (h[i] = (h[i] + v) >>> 0));
  }
  const out = new Uint8Array(32);
  const ov = new DataView(out.buffer);
  h.forEach((v, i) => ov.setUint32(i * 4, v));
  return out;
}

export const _constants = { K512, IV512, IV512_256, K256, IV256 }; // for the tests

// ---- codecs ------------------------------------------------------------

const B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** RFC 4648 base32, standard alphabet, no padding (nkeys, jti). */
export function base32Encode(bytes) {
  let out = "";
  let bits = 0;
  let acc = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += B32[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += B32[(acc << (5 - bits)) & 31];
  return out;
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Standard base64 with padding. */
export function base64Encode(bytes) {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
  }
  if (i < bytes.length) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8);
    out += B64[n >> 18] + B64[(n >> 12) & 63];
    out += i + 1 < bytes.length ? B64[(n >> 6) & 63] + "=" : "==";
  }
  return out;
}

/** base64url without padding (JWT parts). */
export function base64UrlEncode(bytes) {
  return base64Encode(bytes).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}

/** Decode standard or URL-safe base64, padded or not. */
export function base64Decode(text) {
  const s = String(text).replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, "");
  if (/[^A-Za-z0-9+/]/.test(s) || s.length % 4 === 1) throw new Error("invalid base64");
  const out = new Uint8Array(Math.floor((s.length * 3) / 4));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (const ch of s) {
    acc = (acc << 6) | B64.indexOf(ch);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** "SHA-256=<base64url>" (an object store digest) → lowercase hex, or "". */
export function digestToHex(digest) {
  const m = /^SHA-256=(.+)$/i.exec(digest || "");
  if (!m) return "";
  try {
    const raw = base64Decode(m[1]);
    return raw.length === 32 ? hex(raw) : "";
  } catch {
    return "";
  }
}

/** A JSON string as Go's encoding/json writes it (HTML-safe escapes). */
export function goString(s) {
  return JSON.stringify(String(s)).replace(/[<>&\u2028\u2029]/g, (c) =>
    "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"),
  );
}

// ---- JWT (§8.7) ----------------------------------------------------------

export const JWT_HEADER = '{"typ":"JWT","alg":"ed25519-nkey"}';

// The standard claims in Go's field order, each omitted when empty or zero.
function stdClaims(c, withJti) {
  const parts = [];
  if (c.aud) parts.push(`"aud":${goString(c.aud)}`);
  if (c.exp) parts.push(`"exp":${Math.trunc(c.exp)}`);
  if (withJti && c.jti) parts.push(`"jti":${goString(c.jti)}`);
  if (c.iat) parts.push(`"iat":${Math.trunc(c.iat)}`);
  if (c.iss) parts.push(`"iss":${goString(c.iss)}`);
  if (c.name) parts.push(`"name":${goString(c.name)}`);
  if (c.nbf) parts.push(`"nbf":${Math.trunc(c.nbf)}`);
  if (c.sub) parts.push(`"sub":${goString(c.sub)}`);
  return parts;
}

/** The jti of a claim set: base32(SHA-512/256(standard claims without jti)). */
export function computeJti(claims) {
  return base32Encode(sha512_256(te.encode(`{${stdClaims(claims, false).join(",")}}`)));
}

/** The payload JSON of a claim set (jti must already be set). */
export function claimsJson(claims) {
  const nats = [];
  if (claims.hash !== undefined && claims.hash !== null) nats.push(`"hash":${goString(claims.hash)}`);
  // nexc's bound-token claims (api/jwt.h), in Go's sorted map order.
  if (claims.bind) nats.push(`"nexc_bind":${goString(claims.bind)}`);
  if (claims.purpose) nats.push(`"nexc_purpose":${goString(claims.purpose)}`);
  nats.push('"version":2');
  return `{${[...stdClaims(claims, true), `"nats":{${nats.join(",")}}`].join(",")}}`;
}

/**
 * Sign a workload or stop JWT as nats-io/jwt's GenericClaims.Encode does.
 * claims: {sub, iat, hash?, exp?, nbf?, aud?, name?, purpose?, bind?}
 * (purpose/bind: nexc's bound tokens, nats.nexc_purpose/nexc_bind); signer: an nkeys.js
 * KeyPair from fromSeed (account, user, operator… any signing key).
 * Returns {token, claims} with iss and jti filled in.
 */
export function encodeJwt(claims, signer) {
  if (!claims.sub) throw new Error("subject is not set");
  const c = { ...claims, iss: signer.getPublicKey() };
  if (!c.iat) c.iat = Math.floor(Date.now() / 1000);
  c.jti = computeJti(c);
  const input = `${base64UrlEncode(te.encode(JWT_HEADER))}.${base64UrlEncode(te.encode(claimsJson(c)))}`;
  const sig = signer.sign(te.encode(input));
  return { token: `${input}.${base64UrlEncode(sig)}`, claims: c };
}

/** Decode a JWT's payload (no verification; for display and tests). */
export function decodeJwtPayload(token) {
  const parts = String(token).split(".");
  if (parts.length !== 3) throw new Error("expected 3 chunks");
  return JSON.parse(new TextDecoder().decode(base64Decode(parts[1])));
}

/**
 * iat values for one page: never repeat or go back, max(now, last + 1). The
 * node refuses a JWT it has already seen, and a stop JWT must be newer than
 * the deploy JWT (and not minted in the same second).
 */
export class IatClock {
  constructor(now = () => Math.floor(Date.now() / 1000)) {
    this.now = now;
    this.last = 0;
  }
  next() {
    const n = this.now();
    this.last = n > this.last ? n : this.last + 1;
    return this.last;
  }
  /** Remember an iat seen elsewhere (the deploy JWT of a workload). */
  observe(iat) {
    if (iat > this.last) this.last = iat;
  }
}

// ---- environment (§2.5) --------------------------------------------------

/** Parse KEY=VALUE lines (blank lines and # comments ignored). */
export function parseEnv(text) {
  const env = {};
  for (const [i, raw] of String(text || "").split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) throw new Error(`environment line ${i + 1} is not KEY=VALUE: ${line}`);
    env[line.slice(0, eq).trim()] = line.slice(eq + 1);
  }
  return env;
}

/** The environment's plaintext: Go's map encoding (sorted keys), null when empty. */
export function envJson(env) {
  const keys = Object.keys(env || {}).sort();
  if (keys.length === 0) return "null";
  return `{${keys.map((k) => `${goString(k)}:${goString(env[k])}`).join(",")}}`;
}

/**
 * Seal env to the node's public xkey with sender (an nkeys.js curve pair):
 * base64(std, padded) of "xkv1" ‖ nonce ‖ box. nonce only for tests.
 */
export function sealEnv(env, nodeXkey, sender, nonce) {
  const sealed = sender.seal(te.encode(envJson(env)), nodeXkey, nonce);
  return base64Encode(sealed);
}

// ---- request bodies ------------------------------------------------------

/** Go's url.URL for nats://bucket/key, as the Go client serializes it (§2.1). */
export function locationObject(bucket, key) {
  return {
    Scheme: "nats",
    Opaque: "",
    User: null,
    Host: bucket,
    Path: `/${key}`,
    RawPath: "",
    OmitHost: false,
    ForceQuery: false,
    RawQuery: "",
    Fragment: "",
    RawFragment: "",
  };
}

/**
 * The DEPLOY body in the Go client's field order (api/deploy_request.c).
 * r: {argv?, description?, type, bucket, key, essential?, workloadJwt,
 *     environment, senderPublicKey, targetNode}
 */
/* The "nats" extension ({publish, subscribe}: the workload's own NATS
 * permissions on a node with workload_creds), as the node encodes it:
 * absent when both lists are empty, each list only when not empty. */
function natsObject(n) {
  if (!n) return null;
  const o = {};
  if (n.publish && n.publish.length) o.publish = n.publish;
  if (n.subscribe && n.subscribe.length) o.subscribe = n.subscribe;
  return Object.keys(o).length ? o : null;
}

export function deployRequestJson(r) {
  const o = {};
  if (r.argv && r.argv.length) o.argv = r.argv;
  o.description = r.description || "";
  o.type = r.type;
  o.location = locationObject(r.bucket, r.key);
  o.essential = !!r.essential;
  o.workload_jwt = r.workloadJwt;
  o.environment = r.environment;
  o.jsdomain = "";
  o.sender_public_key = r.senderPublicKey;
  o.target_node = r.targetNode;
  const nats = natsObject(r.nats);
  if (nats) o.nats = nats;
  return JSON.stringify(o);
}

/**
 * What a bound deploy token names (api/deploy_request.h
 * deploy_request_digest): the lowercase hex SHA-256 of the request as the
 * node re-encodes it, workload_jwt empty. r: as deployRequestJson, without
 * workloadJwt; the dashboard sends no triggers, resources or restart, so
 * neither does this; r.nats ({publish, subscribe}) is covered.
 */
export function deployDigest(r) {
  const loc = locationObject(r.bucket, r.key);
  const locJson = Object.entries(loc)
    .map(([k, v]) => `${goString(k)}:${v === null ? "null" : typeof v === "boolean" ? v : goString(v)}`)
    .join(",");
  const parts = [];
  if (r.argv && r.argv.length) parts.push(`"argv":[${r.argv.map(goString).join(",")}]`);
  parts.push(`"description":${goString(r.description || "")}`);
  parts.push(`"type":${goString(r.type)}`);
  parts.push(`"location":{${locJson}}`);
  parts.push(`"essential":${!!r.essential}`);
  parts.push('"workload_jwt":""');
  parts.push(`"environment":${goString(r.environment)}`);
  parts.push('"jsdomain":""');
  parts.push(`"sender_public_key":${goString(r.senderPublicKey)}`);
  parts.push(`"target_node":${goString(r.targetNode)}`);
  const nats = natsObject(r.nats);
  if (nats) {
    const lists = Object.entries(nats).map(([k, v]) => `${goString(k)}:[${v.map(goString).join(",")}]`);
    parts.push(`"nats":{${lists.join(",")}}`);
  }
  return hex(sha256(te.encode(`{${parts.join(",")}}`)));
}

/** The STOP body (§3.1). */
export function stopRequestJson(workloadId, stopJwt, targetNode) {
  return JSON.stringify({ workload_id: workloadId, workload_jwt: stopJwt, target_node: targetNode });
}

/** The workload name rule the node applies to the JWT subject. */
export const NAME_RE = /^[a-zA-Z0-9_-]+$/;
/** Object store bucket names (nats.go's rule). */
export const BUCKET_RE = /^[a-zA-Z0-9_-]+$/;

/** Nex's reply envelope → data, or throws with the node's error text. */
export function unwrapEnvelope(text) {
  let env;
  try {
    env = JSON.parse(text);
  } catch {
    throw new Error(`reply is not a JSON envelope: ${String(text).slice(0, 200)}`);
  }
  if (env && typeof env.error === "string") throw new Error(env.error);
  return env ? env.data : undefined;
}
