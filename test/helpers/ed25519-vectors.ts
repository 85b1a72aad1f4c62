/**
 * The Ed25519 edge-case sets of test/vectors-ed25519/ (C2SP CCTV and ed25519-speccheck) with the
 * verdict our strict rule gives each case and why (src/crypto/ed25519-strict.ts). Runtime-neutral:
 * the Node suite and the workerd suite both run it.
 */
import { fromHex, utf8, type Bytes } from '../../src/encoding.js';
import type { CryptoProvider } from '../../src/crypto/index.js';
import cctv from '../vectors-ed25519/ed25519vectors.json' with { type: 'json' };
import speccheck from '../vectors-ed25519/speccheck-cases.json' with { type: 'json' };

export interface Ed25519Case {
  readonly id: string;
  readonly publicKey: Bytes;
  readonly message: Bytes;
  readonly signature: Bytes;
  readonly accept: boolean;
  /** The first clause of the rule that refuses it, or `valid`. */
  readonly why: string;
}

/**
 * CCTV flags, in the order the rule checks them. Every flag is a reason to refuse: the key must
 * be canonical and of prime order, R canonical and not the identity, and a low-order residue only
 * verifies under a cofactored equation (test/vectors-ed25519/README.md).
 */
const CCTV_REFUSALS: readonly [flag: string, why: string][] = [
  ['non_canonical_A', 'non-canonical A'],
  ['low_order_A', 'small-order A'],
  ['low_order_component_A', 'mixed-order A'],
  ['non_canonical_R', 'non-canonical R'],
  ['low_order_R', 'small-order R'],
  ['low_order_component_R', 'mixed-order R'],
  ['low_order_residue', 'cofactored equation only'],
];

/** The twelve "Taming the many EdDSAs" cases, in the paper's order, with the clause that refuses each. */
const SPECCHECK_VERDICTS: readonly [accept: boolean, why: string][] = [
  [false, 'small-order A'],
  [false, 'small-order A'],
  [false, 'mixed-order A'],
  [false, 'mixed-order A'],
  [false, 'mixed-order A'],
  [false, 'mixed-order A'],
  [false, 'S ≥ L'],
  [false, 'S ≥ L'],
  [false, 'mixed-order A'],
  [false, 'mixed-order A'],
  [false, 'non-canonical A'],
  [false, 'non-canonical A'],
];

export const CCTV_CASES: readonly Ed25519Case[] = (cctv as { number: number; key: string; sig: string; msg: string; flags: string[] | null }[]).map((v) => {
  const refusal = CCTV_REFUSALS.find(([flag]) => (v.flags ?? []).includes(flag));
  return {
    id: `cctv #${v.number}`,
    publicKey: fromHex(v.key),
    message: utf8(v.msg),
    signature: fromHex(v.sig),
    accept: !refusal,
    why: refusal?.[1] ?? 'valid',
  };
});

export const SPECCHECK_CASES: readonly Ed25519Case[] = (speccheck as { message: string; pub_key: string; signature: string }[]).map((v, i) => {
  const [accept, why] = SPECCHECK_VERDICTS[i]!;
  return { id: `speccheck #${i}`, publicKey: fromHex(v.pub_key), message: fromHex(v.message), signature: fromHex(v.signature), accept, why };
});

/** RFC 8032 §7.1 test 1: a signature every backend must accept, so a backend that refuses all is caught. */
export const RFC8032_TEST_1: Ed25519Case = {
  id: 'RFC 8032 §7.1 test 1',
  publicKey: fromHex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'),
  message: new Uint8Array(0) as Bytes,
  signature: fromHex(
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  ),
  accept: true,
  why: 'valid',
};

/** The cases where `crypto` disagrees with the rule, as `id (why)`. */
export async function disagreements(crypto: CryptoProvider, cases: readonly Ed25519Case[]): Promise<string[]> {
  const out: string[] = [];
  for (const c of cases) {
    if ((await crypto.ed25519Verify(c.publicKey, c.message, c.signature)) !== c.accept) out.push(`${c.id} (${c.why})`);
  }
  return out;
}
