// Independent verifier of loantrace evidence certificates (format `loantrace-certificate/1`).
//
//   node scripts/verify_certificate.mjs CERT.json --rpc URL [--document FILE]
//                                       [--registry ADDRESS] [--json]
//
// An auditor runs this instead of trusting loantrace's server or its Python code. It trusts
// only the node at --rpc (best the auditor's own node of that chain), the --document, the
// --registry address (else the certificate's, which must answer as a LoantraceAgreementRegistry),
// ethers 6 and @openzeppelin/merkle-tree. Every hash is recomputed here (the contract's own
// `hashAgreement` view is deliberately not used). It only reads from the node (chain id, blocks,
// receipts, eth_call of views); it never sends a transaction.
//
// The checks, in order; the first that fails names the result (after the dash):
//   format          a well-formed certificate — malformed
//   document        SHA-256(--document) = document.digest = agreement.digest — wrong_document
//   chain           the node's chain id and block-0 hash are the certified ones, and the registry
//                   reports the certified EIP-712 domain (ERC-5267) — wrong_chain
//   anchor          the block has the certified hash and timestamp; the transaction is in it,
//                   succeeded, went to the registry, and the registry logged this agreement's
//                   AgreementNotarised / its batch's BatchAnchored — anchor_mismatch
//   signatures      agreement_id is the EIP-712 hash of the agreement, and the signatures recover
//                   to agreement.lender and agreement.borrower — bad_signature
//   proof           (batch) the leaf is the agreement, under the root — proof_mismatch
//   anchored        recordOf(agreement_id) / batchOf(lender, root) — unknown_record / unknown_root
//   status          statusOf(agreement_id) now — revoked / superseded
//   certificate_id  SHA-256 of the RFC 8785 canonical JSON of the rest — altered_certificate
//
// Output: a readable report, or with --json exactly
//   {"result": "valid"|<code>, "ok": bool, "checks": [{"name","ok","detail"}], "certificate_id"}
// Exit status: 0 valid, 1 a check failed, 2 usage error (bad arguments, unreadable file,
// unreachable node), with the message on stderr.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  AbiCoder, Contract, FetchRequest, Interface, JsonRpcProvider, Network, TypedDataEncoder,
  ZeroAddress, concat, getAddress, id, keccak256, recoverAddress,
} from 'ethers';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';

const FORMAT = 'loantrace-certificate/1';
const DOMAIN = { name: 'LoantraceAgreementRegistry', version: '2' };
const AGREEMENT_TYPEHASH = id(
  'Agreement(bytes32 digest,address lender,address borrower,bytes32 borrowerCommitment,'
  + 'LoanTerms terms,bytes32 supersedes)'
  + 'Instalment(uint64 dueAt,uint256 principal,uint256 interest,uint256 fees)'
  + 'LoanTerms(uint256 principal,bytes3 currency,uint64 startAt,bytes32 purpose,'
  + 'uint8 repaymentMethod,uint32 aprBps,Instalment[] schedule)',
);
const LEAF_TYPES = ['bytes32', 'address', 'address', 'bytes32', 'bytes32', 'bytes32', 'bytes', 'bytes'];
const LEAF_FIELDS = ['digest', 'lender', 'borrower', 'borrower_commitment', 'terms_digest',
  'supersedes', 'lender_signature', 'borrower_signature'];
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const REGISTRY = new Interface([
  'event AgreementNotarised(bytes32 indexed agreementId, bytes32 indexed digest, '
    + 'address indexed lender, address borrower, bytes32 borrowerCommitment, '
    + 'bytes32 termsDigest, bytes32 supersedes, bytes lenderSignature, bytes borrowerSignature)',
  'event BatchAnchored(bytes32 indexed root, address indexed lender, uint32 count, bytes32 manifestHash)',
  'function recordOf(bytes32 agreementId) view returns '
    + '(tuple(address lender, uint48 notarisedAt, uint40 blockNumber, uint8 status))',
  'function batchOf(address lender, bytes32 root) view returns '
    + '(tuple(address lender, uint48 anchoredAt, uint40 blockNumber))',
  'function statusOf(bytes32 agreementId) view returns (uint8 status, bytes32 successor, uint8 reason)',
  'function eip712Domain() view returns (bytes1 fields, string name, string version, '
    + 'uint256 chainId, address verifyingContract, bytes32 salt, uint256[] extensions)',
]);

class Failed extends Error { // a check failed; `code` is the result it names
  constructor(code, detail) { super(detail); this.code = code; }
}
class UsageError extends Error {}
const need = (ok, code, detail) => { if (!ok) throw new Failed(code, detail); };

// RFC 8785 (JCS) for what a certificate holds: strings, integers below 2^53, booleans, null,
// arrays, objects. Keys sort by UTF-16 code units (JavaScript's default sort); JSON.stringify
// writes such strings and integers exactly as JCS does. Anything else (fractions, larger
// numbers) has no place in a certificate: malformed.
function canonicalize(value) {
  if (value === null || ['boolean', 'string'].includes(typeof value)) return JSON.stringify(value);
  if (typeof value === 'number') {
    need(Number.isSafeInteger(value), 'malformed', `${value} is not an integer below 2^53`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalize).join(',')}]`;
  need(typeof value === 'object', 'malformed', `a ${typeof value} is not JSON`);
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalize(value[k])}`).join(',')}}`;
}

const sha256 = (bytes) => `0x${createHash('sha256').update(bytes).digest('hex')}`;
const same = (a, b) => typeof a === 'string' && typeof b === 'string' && a.toLowerCase() === b.toLowerCase();
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

// --- format: strict parsing; hex comes back lowercase with 0x, addresses EIP-55 checksummed
const typed = (ok, value, what) => { need(ok, 'malformed', what); return value; };
const object = (parent, key) => typed(isObject(parent[key]), parent[key], `${key} must be an object`);
const list = (parent, key) => typed(Array.isArray(parent[key]), parent[key], `${key} must be a list`);
const integer = (v, name) => typed(Number.isSafeInteger(v) && v >= 0, v, `${name} must be an integer ≥ 0`);
function hex(value, name, bytes) {
  const digits = typeof value === 'string' ? /^(?:0[xX])?([0-9a-fA-F]*)$/.exec(value)?.[1] : undefined;
  need(digits !== undefined, 'malformed', `${name} is not a hex string`);
  const size = bytes === undefined ? digits.length % 2 === 0 : digits.length === 2 * bytes;
  need(size, 'malformed', `${name} must be ${bytes ?? 'whole'} bytes of hex`);
  return `0x${digits.toLowerCase()}`;
}
function address(value, name) {
  const checksummed = getAddress(hex(value, name, 20));
  const digits = value.replace(/^0[xX]/, '');
  const mixedCase = digits !== digits.toLowerCase() && digits !== digits.toUpperCase();
  need(!mixedCase || digits === checksummed.slice(2), 'malformed', `${name} has a bad checksum`);
  return checksummed;
}

function parseCertificate(data) {
  need(isObject(data), 'malformed', 'a certificate is a JSON object');
  need(data.format === FORMAT, 'malformed', `format must be ${FORMAT}`);
  need(typeof data.certificate_id === 'string', 'malformed', 'certificate_id must be a string');
  const [doc, chain, agr, anchor] = ['document', 'chain', 'agreement', 'anchor'].map((k) => object(data, k));
  need(doc.hash_algorithm === 'sha256', 'malformed', 'document.hash_algorithm must be sha256');
  const a = {};
  for (const k of ['agreement_id', 'digest', 'borrower_commitment', 'terms_digest', 'supersedes']) {
    a[k] = hex(agr[k], `agreement.${k}`, 32);
  }
  for (const k of ['lender', 'borrower']) a[k] = address(agr[k], `agreement.${k}`);
  for (const k of ['lender_signature', 'borrower_signature']) a[k] = hex(agr[k], `agreement.${k}`);
  need(['single', 'batch'].includes(anchor.mode), 'malformed', 'anchor.mode must be single or batch');
  let merkle = null;
  if (anchor.mode === 'batch') {
    const m = object(data, 'merkle');
    need(m.format === 'standard-v1', 'malformed', 'merkle.format must be standard-v1');
    const types = list(m, 'leaf_types');
    need(types.every((t) => typeof t === 'string'), 'malformed', 'merkle.leaf_types must be strings');
    merkle = {
      root: hex(m.root, 'merkle.root', 32),
      types,
      values: list(m, 'leaf_values').map((v, i) => hex(v, `merkle.leaf_values[${i}]`)),
      proof: list(m, 'proof').map((p, i) => hex(p, `merkle.proof[${i}]`, 32)),
      manifestHash: hex(m.manifest_hash, 'merkle.manifest_hash', 32),
    };
  } else {
    need(data.merkle === null, 'malformed', "a single record's certificate has merkle null");
  }
  const { certificate_id: claimedId, ...rest } = data;
  return {
    documentDigest: hex(doc.digest, 'document.digest', 32),
    chainId: integer(chain.chain_id, 'chain.chain_id'),
    genesisHash: hex(chain.genesis_hash, 'chain.genesis_hash', 32),
    contract: address(chain.contract_address, 'chain.contract_address'),
    domain: chain.eip712_domain,
    agreement: a,
    mode: anchor.mode,
    txHash: hex(anchor.tx_hash, 'anchor.tx_hash', 32),
    blockNumber: integer(anchor.block_number, 'anchor.block_number'),
    blockHash: hex(anchor.block_hash, 'anchor.block_hash', 32),
    blockTimestamp: integer(anchor.block_timestamp, 'anchor.block_timestamp'),
    merkle,
    claimedId,
    recomputedId: sha256(canonicalize(rest)), // now: content JCS cannot encode is `malformed`
  };
}

// --- the checks after `format`: each returns its detail or throws Failed
function checkDocument(cert, documentBytes) {
  need(cert.documentDigest === cert.agreement.digest, 'wrong_document', "document.digest is not the agreement's");
  if (documentBytes === null) return 'no document given: the digest is taken from the certificate';
  const digest = sha256(documentBytes);
  need(digest === cert.documentDigest, 'wrong_document', `the document's SHA-256 is ${digest}`);
  return `the document's SHA-256 is the certified digest ${digest}`;
}

async function checkChain(cert, node, trustedRegistry) {
  need(node.chainId === BigInt(cert.chainId), 'wrong_chain',
    `the node is chain ${node.chainId}, not ${cert.chainId}`);
  const genesis = await node.provider.getBlock(0);
  need(genesis?.hash === cert.genesisHash, 'wrong_chain', "the node's genesis block is not the certified one");
  need(!trustedRegistry || trustedRegistry === cert.contract, 'wrong_chain',
    `the certificate names registry ${cert.contract}, not ${trustedRegistry}`);
  const d = await view(node, cert.contract, 'eip712Domain');
  const registry = d?.name === DOMAIN.name && d.version === DOMAIN.version && d.chainId === node.chainId
    && d.verifyingContract === cert.contract;
  need(registry, 'wrong_chain', `${cert.contract} is no ${DOMAIN.name} v${DOMAIN.version} of this chain`);
  need(cert.domain?.name === d.name && cert.domain?.version === d.version, 'wrong_chain',
    `chain.eip712_domain is not the registry's (${d.name}, version ${d.version})`);
  return `chain ${cert.chainId}, genesis ${genesis.hash}, registry ${cert.contract}`;
}

async function checkAnchor(cert, node) {
  const a = cert.agreement;
  const block = await node.provider.getBlock(cert.blockNumber);
  need(block?.hash === cert.blockHash, 'anchor_mismatch', `block ${cert.blockNumber} has another hash`);
  need(block.timestamp === cert.blockTimestamp, 'anchor_mismatch',
    `block ${cert.blockNumber} has timestamp ${block.timestamp}`);
  const receipt = await node.provider.getTransactionReceipt(cert.txHash);
  need(receipt?.blockHash === cert.blockHash && receipt.status === 1, 'anchor_mismatch',
    'the transaction is not a successful one of that block');
  need(same(receipt.to, cert.contract), 'anchor_mismatch', 'the transaction was not sent to the registry');
  const at = `in tx ${cert.txHash}, block ${cert.blockNumber} (${new Date(block.timestamp * 1000).toISOString()})`;
  for (const log of receipt.logs.filter((entry) => same(entry.address, cert.contract))) {
    let event = null;
    try { event = REGISTRY.parseLog(log); } catch { /* not one of the two events */ }
    const args = event?.args;
    if (cert.mode === 'single' && event?.name === 'AgreementNotarised' && args.agreementId === a.agreement_id
        && args.digest === a.digest && same(args.lender, a.lender)) {
      return `AgreementNotarised of ${a.agreement_id} ${at}`;
    }
    if (cert.mode === 'batch' && event?.name === 'BatchAnchored' && args.root === cert.merkle.root
        && same(args.lender, a.lender) && args.manifestHash === cert.merkle.manifestHash) {
      return `BatchAnchored of root ${args.root} (${args.count} agreements) ${at}`;
    }
  }
  throw new Failed('anchor_mismatch', 'the transaction does not carry the certified event');
}

// EIP-712: keccak256(0x1901 ‖ domainSeparator ‖ structHash); `terms` enters as its struct hash.
function signingHash(a, chainId, verifyingContract) {
  const structHash = keccak256(AbiCoder.defaultAbiCoder().encode(
    ['bytes32', 'bytes32', 'address', 'address', 'bytes32', 'bytes32', 'bytes32'],
    [AGREEMENT_TYPEHASH, a.digest, a.lender, a.borrower, a.borrower_commitment, a.terms_digest, a.supersedes],
  ));
  const separator = TypedDataEncoder.hashDomain({ ...DOMAIN, chainId, verifyingContract });
  return keccak256(concat(['0x1901', separator, structHash]));
}

// Only what OpenZeppelin ECDSA accepts: 65 bytes (r, s, v), v 27 or 28, s in the lower half.
function recoverSigner(hash, signature) {
  if (signature.length !== 2 + 2 * 65) return null;
  const [r, s] = [signature.slice(2, 66), signature.slice(66, 130)].map((h) => BigInt(`0x${h}`));
  const v = Number.parseInt(signature.slice(130), 16);
  if (![27, 28].includes(v) || !r || r >= SECP256K1_N || !s || s > SECP256K1_N / 2n) return null;
  try { return recoverAddress(hash, signature); } catch { return null; }
}

function checkSignatures(cert, node) {
  const a = cert.agreement;
  const hash = signingHash(a, node.chainId, cert.contract);
  need(hash === a.agreement_id, 'bad_signature', `agreement_id is not the EIP-712 hash of the agreement (${hash})`);
  for (const role of ['lender', 'borrower']) {
    const signer = recoverSigner(hash, a[`${role}_signature`]);
    need(signer !== null, 'bad_signature', `the ${role} signature cannot be recovered`);
    need(same(signer, a[role]), 'bad_signature', `the ${role} signature is by ${signer}, not ${a[role]}`);
  }
  return `agreement_id is the EIP-712 hash, signed by lender ${a.lender} and borrower ${a.borrower}`;
}

function checkProof(cert) {
  const { root, types, values, proof } = cert.merkle;
  need(JSON.stringify(types) === JSON.stringify(LEAF_TYPES), 'proof_mismatch', 'non-standard leaf_types');
  const fields = LEAF_FIELDS.map((key) => cert.agreement[key]);
  need(values.length === fields.length && values.every((v, i) => same(v, fields[i])), 'proof_mismatch',
    "the leaf values are not the agreement's fields");
  let included = false;
  try { included = StandardMerkleTree.verify(root, types, values, proof); } catch { /* bad input */ }
  need(included, 'proof_mismatch', 'the proof does not lead to the root');
  return `StandardMerkleTree.verify: the leaf is under root ${root}`;
}

async function checkAnchored(cert, node) {
  const a = cert.agreement;
  if (cert.mode === 'batch') {
    const batch = await view(node, cert.contract, 'batchOf', a.lender, cert.merkle.root);
    need(batch && batch.lender !== ZeroAddress, 'unknown_root', 'the registry has no such batch of the lender');
    return `batchOf(lender, root): anchored by ${batch.lender} in block ${batch.blockNumber}`;
  }
  const record = await view(node, cert.contract, 'recordOf', a.agreement_id);
  need(record && record.lender !== ZeroAddress, 'unknown_record', 'the registry has no such record');
  return `recordOf(agreement_id): notarised by ${record.lender} in block ${record.blockNumber}`;
}

async function checkStatus(cert, node) {
  const answer = await view(node, cert.contract, 'statusOf', cert.agreement.agreement_id);
  if (!answer) throw new Error('the registry did not answer statusOf');
  const [status, successor, reason] = answer;
  need(status !== 3n, 'revoked', `revoked with reason ${reason}`);
  need(status !== 2n, 'superseded', `superseded by ${successor}`);
  return `in force now (statusOf: ${status === 0n ? 'None, a batched agreement' : 'Notarised'})`;
}

// Call a registry view at the latest block; null when it reverts or returns nothing (no code).
async function view(node, contract, name, ...args) {
  try {
    return await new Contract(contract, REGISTRY, node.provider)[name](...args);
  } catch (error) {
    if (error?.code === 'CALL_EXCEPTION' || error?.code === 'BAD_DATA') return null;
    throw error;
  }
}

async function verify(data, documentBytes, node, trustedRegistry) {
  let cert = null;
  const steps = [
    ['format', () => { cert = parseCertificate(data); return `${FORMAT}, ${cert.mode} anchor`; }],
    ['document', () => checkDocument(cert, documentBytes)],
    ['chain', () => checkChain(cert, node, trustedRegistry)],
    ['anchor', () => checkAnchor(cert, node)],
    ['signatures', () => checkSignatures(cert, node)],
    ['proof', () => checkProof(cert)], // batch only
    ['anchored', () => checkAnchored(cert, node)],
    ['status', () => checkStatus(cert, node)],
    ['certificate_id', () => {
      need(cert.recomputedId === cert.claimedId, 'altered_certificate', `the rest hashes to ${cert.recomputedId}`);
      return 'the SHA-256 of the RFC 8785 canonical JSON of the rest';
    }],
  ];
  const verdict = { result: 'valid', ok: true, checks: [] };
  for (const [name, run] of steps) {
    if (name === 'proof' && cert.mode !== 'batch') continue;
    try {
      verdict.checks.push({ name, ok: true, detail: await run() });
    } catch (error) {
      if (!(error instanceof Failed)) throw error;
      verdict.checks.push({ name, ok: false, detail: error.message });
      Object.assign(verdict, { result: error.code, ok: false });
      break;
    }
  }
  verdict.certificate_id = typeof data?.certificate_id === 'string' ? data.certificate_id : null;
  return verdict;
}

// Ask for the chain id once (an unreachable node is a usage error, not a verdict), then pin
// the provider to that network, so that ethers neither polls nor retries.
async function connect(url) {
  let chainId;
  try {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] });
    const headers = { 'content-type': 'application/json' };
    const response = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(15_000) });
    chainId = BigInt((await response.json()).result);
  } catch (error) {
    const reason = error.cause?.code ?? error.cause?.errors?.[0]?.code ?? error.cause?.message ?? error.message;
    throw new UsageError(`cannot reach an Ethereum node at ${url}: ${reason}`);
  }
  const request = Object.assign(new FetchRequest(url), { timeout: 30_000 });
  const network = Network.from(chainId);
  return { chainId, provider: new JsonRpcProvider(request, network, { staticNetwork: network, batchMaxCount: 1 }) };
}

function readable(verdict) {
  const lines = [`Certificate ${verdict.certificate_id ?? '(without an id)'}`];
  for (const c of verdict.checks) lines.push(`  ${c.ok ? '✓' : '✗'} ${c.name.padEnd(16)}${c.detail}`);
  return [...lines, `result: ${verdict.result}`].join('\n');
}

function read(path) {
  try { return readFileSync(path); } catch (error) {
    throw new UsageError(`cannot read ${path}: ${error.code ?? error.message}`);
  }
}

async function main() {
  const usage = 'usage: node scripts/verify_certificate.mjs CERT.json --rpc URL [--document FILE] '
    + '[--registry ADDRESS] [--json]';
  const [string, boolean] = [{ type: 'string' }, { type: 'boolean' }];
  const options = { rpc: string, document: string, registry: string, json: boolean };
  let args;
  try { args = parseArgs({ options, allowPositionals: true }); } catch (error) {
    throw new UsageError(`${error.message}\n${usage}`);
  }
  const { values, positionals } = args;
  if (positionals.length !== 1) throw new UsageError(`give one certificate file\n${usage}`);
  if (!values.rpc) throw new UsageError(`give --rpc URL, a node of the certificate's chain\n${usage}`);
  let registry = null;
  try { registry = values.registry === undefined ? null : address(values.registry, '--registry'); } catch {
    throw new UsageError(`--registry ${values.registry} is not an address`);
  }
  const text = read(positionals[0]).toString('utf8');
  const documentBytes = values.document === undefined ? null : read(values.document);
  let data;
  try { data = JSON.parse(text); } catch { data = undefined; } // not JSON: `malformed`
  const node = await connect(values.rpc);
  try {
    const verdict = await verify(data, documentBytes, node, registry);
    console.log(values.json ? JSON.stringify(verdict, null, 2) : readable(verdict));
    process.exitCode = verdict.ok ? 0 : 1;
  } finally {
    node.provider.destroy();
  }
}

main().catch((error) => {
  const node = `the node failed to answer: ${error.shortMessage ?? error.message}`;
  console.error(`error: ${error instanceof UsageError ? error.message : node}`);
  process.exitCode = 2;
});
