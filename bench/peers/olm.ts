/**
 * `@matrix-org/olm` 3.2.15: libolm (C++) compiled to WebAssembly. Olm's session setup is 3DH
 * against a published one-time key (no signed pre-key), its plaintexts are strings (our payloads
 * go in as 1 KiB / 64 KiB of ASCII), ciphertexts base64. Persisted: `pickle`/`unpickle` (AES
 * encrypted with a pickle key) around every message.
 */
import Olm from '@matrix-org/olm';
import { peer, timed } from './common.js';

let ready: Promise<void> | undefined;

function text(size: number, i: number): string {
  const stampText = String(i).padStart(10, '0');
  return stampText + 'x'.repeat(size - stampText.length);
}

function check(plain: string, size: number, i: number): void {
  if (plain.length !== size || Number(plain.slice(0, 10)) !== i) throw new Error(`olm: message ${i} did not decrypt to what was sent`);
}

function account(): Olm.Account {
  const a = new Olm.Account();
  a.create();
  return a;
}

function identity(a: Olm.Account): string {
  return JSON.parse(a.identity_keys()).curve25519 as string;
}

function oneTimeKeys(a: Olm.Account, count: number): string[] {
  a.generate_one_time_keys(count);
  const keys = Object.values(JSON.parse(a.one_time_keys()).curve25519 as Record<string, string>);
  a.mark_keys_as_published();
  return keys;
}

type Pair = { alice: Olm.Account; bob: Olm.Account; a: Olm.Session; b: Olm.Session };

function sessionPair(): Pair {
  const alice = account();
  const bob = account();
  const [otk] = oneTimeKeys(bob, 1);
  const a = new Olm.Session();
  a.create_outbound(alice, identity(bob), otk!);
  const first = a.encrypt('hi');
  const b = new Olm.Session();
  b.create_inbound(bob, first.body);
  bob.remove_one_time_keys(b);
  b.decrypt(first.type, first.body);
  const reply = b.encrypt('hi');
  a.decrypt(reply.type, reply.body);
  return { alice, bob, a, b };
}

function free(p: Pair): void {
  p.a.free();
  p.b.free();
  p.alice.free();
  p.bob.free();
}

function traffic(size: number, pingPong: boolean, persisted = false) {
  return async (iterations: number) => {
    const pair = sessionPair();
    const key = 'bench pickle key';
    const pickles = [pair.a.pickle(key), pair.b.pickle(key)];
    const live = [pair.a, pair.b];
    try {
      return await timed(iterations, (i) => {
        const [from, to] = pingPong && i % 2 === 1 ? [1, 0] : [0, 1];
        const msg = text(size, i);
        if (!persisted) {
          const m = live[from]!.encrypt(msg);
          check(live[to]!.decrypt(m.type, m.body), size, i);
          return;
        }
        const s = new Olm.Session();
        s.unpickle(key, pickles[from]!);
        const m = s.encrypt(msg);
        pickles[from] = s.pickle(key);
        s.free();
        const r = new Olm.Session();
        r.unpickle(key, pickles[to]!);
        check(r.decrypt(m.type, m.body), size, i);
        pickles[to] = r.pickle(key);
        r.free();
      });
    } finally {
      free(pair);
    }
  };
}

async function setup(iterations: number) {
  if (!Number.isInteger(iterations) || iterations < 1) throw new RangeError(`iterations must be a positive integer, got ${iterations}`);
  const alice = account();
  const bob = account();
  const bobKey = identity(bob);
  // An account holds at most max_number_of_one_time_keys() keys: refill in batches, untimed.
  const batch = Math.min(50, Math.floor(bob.max_number_of_one_time_keys() / 2));
  let otks: string[] = [];
  let seconds = 0;
  try {
    for (let i = 0; i < iterations; i++) {
      if (otks.length === 0) otks = oneTimeKeys(bob, Math.min(batch, iterations - i));
      const otk = otks.shift()!;
      const t0 = performance.now();
      const a = new Olm.Session();
      a.create_outbound(alice, bobKey, otk);
      const first = a.encrypt('hello'.padEnd(64, '.'));
      const b = new Olm.Session();
      b.create_inbound(bob, first.body);
      bob.remove_one_time_keys(b);
      if (b.decrypt(first.type, first.body).length !== 64) throw new Error('olm setup: first message');
      const reply = b.encrypt('reply'.padEnd(64, '.'));
      if (a.decrypt(reply.type, reply.body).length !== 64) throw new Error('olm setup: reply');
      a.free();
      b.free();
      seconds += (performance.now() - t0) / 1000;
    }
  } finally {
    alice.free();
    bob.free();
  }
  return { operations: iterations, seconds };
}

export async function olm() {
  ready ??= Olm.init();
  await ready;
  return peer('olm', '@matrix-org/olm 3.2.15', 'libolm in WebAssembly (3DH, AES-CBC+HMAC)', {
    'one-way-1k': traffic(1024, false),
    'ping-pong-1k': traffic(1024, true),
    'session-setup': setup,
    'bulk-64k': traffic(65536, false),
    'one-way-1k-persisted': traffic(1024, false, true),
    'ping-pong-1k-persisted': traffic(1024, true, true),
  });
}
