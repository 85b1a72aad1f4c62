import { AgentIdentity } from '../src/identity/agent-identity.js';
import { SessionManager, type SessionManagerOptions } from '../src/session/index.js';
import { StorageError } from '../src/storage/errors.js';
import type { AgentStore, StoreWrite } from '../src/storage/store.js';
import { fromUtf8, utf8 } from '../src/encoding.js';
import type { ChannelEstablishment } from '../src/channel/establishment.js';
import type { EncryptedMessage } from '../src/wire/encrypted-message.js';

/** Shared set-up for the storage and session tests (not a test file itself). */

let counter = 0;
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
}

export const text = (bytes: Uint8Array | null): string => (bytes === null ? '<null>' : fromUtf8(bytes));
export { utf8 };

/** A manager over `store` with a new identity, a signed pre-key and `oneTime` one-time pre-keys. */
export async function newAgent(
  store: AgentStore,
  options: Partial<SessionManagerOptions> & { oneTime?: number } = {},
): Promise<SessionManager> {
  const identity = await AgentIdentity.generate();
  const manager = await SessionManager.open({ ...options, store, identity });
  identity.wipe();
  await manager.preKeys.rotateSignedPreKey();
  if ((options.oneTime ?? 3) > 0) await manager.preKeys.generateOneTimePreKeys(options.oneTime ?? 3);
  return manager;
}

/** `initiator` starts a session with `responder` (using a one-time pre-key) and both exchange one message. */
export async function connect(initiator: SessionManager, responder: SessionManager): Promise<void> {
  const [otk] = await responder.preKeys.oneTimePreKeyIds();
  const establishment = await initiator.initiate(responder.did, await responder.preKeys.getPublicBundle(otk ?? null));
  const first = await initiator.send(responder.did, utf8(`hello ${responder.did}`));
  const got = await responder.accept(initiator.did, establishment, { firstMessage: first });
  if (text(got) !== `hello ${responder.did}`) throw new Error('first message did not arrive');
  const reply = await responder.send(initiator.did, utf8(`hello ${initiator.did}`));
  if (text(await initiator.receive(responder.did, reply)) !== `hello ${initiator.did}`) throw new Error('reply did not arrive');
}

/** A message as a MeshAgent sends it: with the establishment until the peer has answered. */
export interface SentFrame {
  readonly establishment: ChannelEstablishment | null;
  readonly message: EncryptedMessage;
  readonly text: string;
}

export async function sendFrame(from: SessionManager, to: SessionManager, words: string): Promise<SentFrame> {
  const { message, establishment } = await from.sendWithEstablishment(to.did, utf8(words));
  return { establishment, message, text: words };
}

/** Accepts a frame that carries an establishment, receives one that does not; returns the text. */
export async function deliverFrame(to: SessionManager, from: SessionManager, frame: SentFrame): Promise<string> {
  const plaintext = frame.establishment
    ? await to.accept(from.did, frame.establishment, { firstMessage: frame.message })
    : await to.receive(from.did, frame.message);
  return text(plaintext);
}

/** Two new managers over `makeStore`, returned as [lower DID, higher DID]. */
export async function pairByDid(makeStore: () => AgentStore | Promise<AgentStore>): Promise<[SessionManager, SessionManager]> {
  const a = await newAgent(await makeStore());
  const b = await newAgent(await makeStore());
  return a.did < b.did ? [a, b] : [b, a];
}

/** Each opens a session to the other (using a one-time pre-key) before either hears from the other. */
export async function openBoth(a: SessionManager, b: SessionManager): Promise<void> {
  const [aOtk] = await a.preKeys.oneTimePreKeyIds();
  const [bOtk] = await b.preKeys.oneTimePreKeyIds();
  await a.initiate(b.did, await b.preKeys.getPublicBundle(bOtk ?? null));
  await b.initiate(a.did, await a.preKeys.getPublicBundle(aOtk ?? null));
}

/**
 * Wraps a store so that writes can be made to fail (before touching the inner store), like a full
 * disk or a crash between computing and persisting.
 */
export function flaky(inner: AgentStore): { store: AgentStore; failWrites: (n: number) => void; writes: StoreWrite[][] } {
  let failing = 0;
  const writes: StoreWrite[][] = [];
  const store = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'write') {
        return async (batch: readonly StoreWrite[]) => {
          if (failing > 0) {
            failing -= 1;
            throw new StorageError('injected write failure');
          }
          writes.push([...batch]);
          return target.write(batch);
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store, failWrites: (n) => void (failing = n), writes };
}
