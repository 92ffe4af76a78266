// The npm `siwe` package (with ethers v6) as the oracle for tests/domain/test_siwe_oracle.py.
//
//   node scripts/siwe_oracle.mjs generate COUNT SEED
//     Writes JSON [{message, signature, fields, times, validAt}]: COUNT messages made with
//     `new SiweMessage({...}).prepareMessage()`, each signed by its own ethers Wallet. `times`
//     holds each timestamp as epoch milliseconds; `validAt` is an instant inside its window.
//   node scripts/siwe_oracle.mjs check < [{message, signature?, domain?, nonce?, time?}]
//     Writes JSON [{parsed, error?, fields?, rendered?, verified?}]: npm siwe's own verdict on
//     each message: `new SiweMessage(text)`, `prepareMessage()` and `verify({...})`.
//
// Deterministic for a given SEED: keys are keccak256("siwe-oracle/SEED/i").
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { SiweMessage } = require('siwe');
const { Wallet, id } = require('ethers');

const FIELDS = ['scheme', 'domain', 'address', 'statement', 'uri', 'version', 'chainId', 'nonce',
  'issuedAt', 'expirationTime', 'notBefore', 'requestId', 'resources'];
const SCHEMES = [undefined, undefined, 'https', 'http', 'wc+ws'];
const DOMAINS = ['example.com', 'login.example.org:8443', 'localhost:3000', '127.0.0.1',
  '[::1]:8080', 'user:pw@example.net', 'xn--bcher-kva.example', '[v1.fe80::a+en1]'];
const URIS = ['https://example.com/login', 'urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66',
  'https://[2001:db8::7]:443/a/b;c?d=e&f#g', 'did:pkh:eip155:1:0xb9c5714089478a327f09197987f16f9e5d936e8a',
  'mailto:a@b.example', 'https://example.com/%7Euser/?q=%20/?#frag/?', 'urn:', 'file:///etc'];
const STATEMENTS = [undefined, undefined, '', 'I accept the ExampleOrg Terms of Service: https://example.com/tos',
  "Sign in (v2) - it's free & safe! #1 @home; [ok]=~*,+$/?", ' spaces  around '];
const REQUEST_IDS = [undefined, undefined, '8f2c7a1e-5b3d-4c6f-9e0a-1b2c3d4e5f60', "!$&'()*+,;=:@-._~%20"];
const RESOURCES = [undefined, undefined, [], ['ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/'],
  ['https://example.com/my-web2-claim.json', 'ceramic://bafy?x=1', 'urn:x:1']];
const CHAIN_IDS = [1, 10, 137, 8453, 31337, 11155111, 9007199254740991];
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const HOUR = 3_600_000;

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Write `ms` as RFC 3339 in one of the spellings seen in the wild; return [text, its instant].
function spell(rng, ms) {
  const style = Math.floor(rng() * 6);
  if (style === 0) return [new Date(ms).toISOString(), ms]; // what JavaScript clients send
  const seconds = Math.floor(ms / 1000) * 1000;
  if (style === 1) return [new Date(seconds).toISOString().replace('.000Z', 'Z'), seconds];
  const offset = [330, -480, 0, 60, -150][Math.floor(rng() * 5)];
  const local = new Date(ms + offset * 60_000).toISOString().slice(0, 23);
  const sign = offset < 0 ? '-' : '+';
  const hh = String(Math.floor(Math.abs(offset) / 60)).padStart(2, '0');
  const mm = String(Math.abs(offset) % 60).padStart(2, '0');
  if (style === 2) return [`${local}${sign}${hh}:${mm}`, ms];
  if (style === 3) return [`${local.slice(0, 19)}${sign}${hh}:${mm}`, seconds];
  if (style === 4) return [`${new Date(ms).toISOString().slice(0, 23).replace('T', 't')}456789z`, ms];
  return [`${local}987${sign}${hh}:${mm}`, ms]; // six fraction digits
}

async function generate(count, seed) {
  const rng = mulberry32(seed);
  const pick = (xs) => xs[Math.floor(rng() * xs.length)];
  const out = [];
  for (let i = 0; i < count; i += 1) {
    const wallet = new Wallet(id(`siwe-oracle/${seed}/${i}`));
    const issued = Date.UTC(2001, 0, 1) + Math.floor(rng() * 2.8e12);
    const times = {};
    const params = {
      scheme: pick(SCHEMES), domain: pick(DOMAINS), address: wallet.address,
      statement: pick(STATEMENTS), uri: pick(URIS), version: '1', chainId: pick(CHAIN_IDS),
      nonce: Array.from({ length: 8 + Math.floor(rng() * 25) }, () => pick(ALNUM)).join(''),
      requestId: pick(REQUEST_IDS), resources: pick(RESOURCES),
    };
    [params.issuedAt, times.issuedAt] = spell(rng, issued);
    let validAt = issued + 1000;
    if (rng() < 0.5) {
      const notBefore = issued + Math.floor(rng() * 0.5 * HOUR);
      [params.notBefore, times.notBefore] = spell(rng, notBefore);
      validAt = notBefore + 1000;
    }
    if (rng() < 0.6) {
      [params.expirationTime, times.expirationTime] = spell(rng, issued + HOUR + Math.floor(rng() * 720 * HOUR));
    }
    const message = new SiweMessage(params).prepareMessage();
    out.push({ message, signature: await wallet.signMessage(message), fields: fieldsOf(params), times, validAt });
  }
  return out;
}

function fieldsOf(message) {
  return Object.fromEntries(FIELDS.map((name) => [name, message[name] ?? null]));
}

async function check(cases) {
  const out = [];
  for (const c of cases) {
    let message;
    try {
      message = new SiweMessage(c.message);
    } catch (e) {
      out.push({ parsed: false, error: String(e.message).split('\n')[0] });
      continue;
    }
    const result = { parsed: true, fields: fieldsOf(message), rendered: message.prepareMessage() };
    if (c.signature) {
      const params = { signature: c.signature, domain: c.domain, nonce: c.nonce, time: c.time };
      const verdict = await message.verify(params, { suppressExceptions: true });
      result.verified = verdict.success;
      if (!verdict.success) result.error = String(verdict.error?.type ?? verdict.error);
    }
    out.push(result);
  }
  return out;
}

async function readStdin() {
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  return JSON.parse(input);
}

const [mode, ...args] = process.argv.slice(2);
console.error = () => {}; // siwe logs every failed signature recovery; the verdict says enough
if (mode === 'generate') {
  process.stdout.write(JSON.stringify(await generate(Number(args[0]), Number(args[1]))));
} else if (mode === 'check') {
  process.stdout.write(JSON.stringify(await check(await readStdin())));
} else {
  process.stderr.write('usage: siwe_oracle.mjs generate COUNT SEED | check < cases.json\n');
  process.exit(2);
}
