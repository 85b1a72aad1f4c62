import { fromHex, type Bytes } from '../src/encoding.js';

/**
 * Low-order X25519 points (u-coordinates, little-endian): 0, 1, the two points of order 8, p-1, p,
 * p+1, and each of them with the ignored top bit set. X25519 with any clamped scalar maps all of
 * them to zero. Shared by the ratchet fuzzer and the property tests.
 */
const P = (1n << 255n) - 19n;

function le32(x: bigint): Bytes {
  const out = new Uint8Array(32) as Bytes;
  for (let i = 0; i < 32; i++) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

const CANONICAL: Bytes[] = [
  le32(0n),
  le32(1n),
  fromHex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800'),
  fromHex('5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157'),
  le32(P - 1n),
  le32(P),
  le32(P + 1n),
];

export const LOW_ORDER_POINTS: readonly Bytes[] = [
  ...CANONICAL,
  ...CANONICAL.map((b) => {
    const c = new Uint8Array(b) as Bytes;
    c[31]! |= 0x80;
    return c;
  }),
];
