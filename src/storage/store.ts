import { PreKeyNotFoundError } from '../errors.js';
import { InvalidRecordError, StoreConflictError } from './errors.js';
import {
  checkCounters,
  checkDidString,
  checkIdentityRecord,
  checkKeyId,
  checkOneTimePreKeyRecord,
  checkRevision,
  checkSessionRecord,
  checkSignedPreKeyRecord,
  type IdentityRecord,
  type OneTimePreKeyRecord,
  type PreKeyCounters,
  type SessionRecord,
  type SignedPreKeyRecord,
} from './records.js';

/**
 * One change in an atomic batch. Each carries the precondition that makes it safe without a lock:
 * a batch whose precondition fails writes nothing at all.
 */
export type StoreWrite =
  /** Fails with `StoreConflictError` if an identity is already stored. */
  | { readonly op: 'addIdentity'; readonly record: IdentityRecord }
  /** `ifAbsent` fails the batch if the id is taken (a new key); otherwise overwrites (retiring a key). */
  | { readonly op: 'putSignedPreKey'; readonly record: SignedPreKeyRecord; readonly ifAbsent?: boolean }
  | { readonly op: 'deleteSignedPreKey'; readonly keyId: number }
  /** Fails the batch if the id is taken. */
  | { readonly op: 'addOneTimePreKey'; readonly record: OneTimePreKeyRecord }
  /** Deletes the key; fails the batch with `PreKeyNotFoundError` if it is already gone (claimed once only). */
  | { readonly op: 'consumeOneTimePreKey'; readonly keyId: number }
  /** Fails the batch unless the stored counters equal `expected`. */
  | { readonly op: 'setCounters'; readonly counters: PreKeyCounters; readonly expected: PreKeyCounters }
  /**
   * Fails the batch unless the stored revision is `expectedRevision` (null: no session stored).
   * `record.revision` must be `(expectedRevision ?? 0) + 1`.
   */
  | { readonly op: 'putSession'; readonly record: SessionRecord; readonly expectedRevision: number | null }
  /** With `expectedRevision`, fails the batch unless that revision is the stored one. */
  | { readonly op: 'deleteSession'; readonly peerDid: string; readonly expectedRevision?: number };

/**
 * Everything an agent keeps. Reads return copies the caller owns (and should zero when done);
 * `write` applies a batch atomically: all of it, or (on any error) none of it.
 */
export interface AgentStore {
  /** Names this agent's data: lock names derive from it so that two tabs of one agent share locks. */
  readonly lockScope: string;
  getIdentity(): Promise<IdentityRecord | null>;
  /** Current and retained signed pre-keys, by id. */
  getSignedPreKeys(): Promise<SignedPreKeyRecord[]>;
  getOneTimePreKey(keyId: number): Promise<OneTimePreKeyRecord | null>;
  /** Public halves only are needed for publishing; ids ascending. */
  listOneTimePreKeyIds(): Promise<number[]>;
  getCounters(): Promise<PreKeyCounters>;
  getSession(peerDid: string): Promise<SessionRecord | null>;
  listSessions(): Promise<string[]>;
  write(batch: readonly StoreWrite[]): Promise<void>;
  close(): Promise<void>;
}

/** The five kinds of record, each a keyed collection. */
export type RecordKind = 'identity' | 'signedPreKey' | 'oneTimePreKey' | 'meta' | 'session';

export const IDENTITY_KEY = 'self';
export const COUNTERS_KEY = 'counters';

const invalid = (message: string) => new InvalidRecordError(`refused write: ${message}`);

/** Validates and copies every record of a batch before anything is written. */
export function checkBatch(batch: readonly StoreWrite[]): StoreWrite[] {
  if (!Array.isArray(batch)) throw invalid('a batch must be an array');
  if (batch.length > 10_000) throw invalid('a batch holds at most 10000 writes');
  return batch.map((w): StoreWrite => {
    switch (w?.op) {
      case 'addIdentity':
        return { op: w.op, record: checkIdentityRecord(w.record, invalid) };
      case 'putSignedPreKey':
        return { op: w.op, record: checkSignedPreKeyRecord(w.record, invalid), ifAbsent: w.ifAbsent === true };
      case 'deleteSignedPreKey':
      case 'consumeOneTimePreKey':
        return { op: w.op, keyId: checkKeyId(w.keyId, invalid, 'key id') };
      case 'addOneTimePreKey':
        return { op: w.op, record: checkOneTimePreKeyRecord(w.record, invalid) };
      case 'setCounters':
        return { op: w.op, counters: checkCounters(w.counters, invalid), expected: checkCounters(w.expected, invalid) };
      case 'putSession': {
        const record = checkSessionRecord(w.record, invalid);
        const expected = w.expectedRevision === null ? null : checkRevision(w.expectedRevision, invalid, 'expectedRevision');
        if (record.revision !== (expected ?? 0) + 1) throw invalid(`session revision must be ${(expected ?? 0) + 1}, got ${record.revision}`);
        return { op: w.op, record, expectedRevision: expected };
      }
      case 'deleteSession': {
        const peerDid = checkDidString(w.peerDid, invalid, 'peerDid');
        return w.expectedRevision === undefined
          ? { op: w.op, peerDid }
          : { op: w.op, peerDid, expectedRevision: checkRevision(w.expectedRevision, invalid, 'expectedRevision') };
      }
      default:
        throw invalid(`unknown operation ${typeof w?.op === 'string' ? JSON.stringify((w.op as string).slice(0, 40)) : typeof w?.op}`);
    }
  });
}

/**
 * What an adapter offers inside one of its transactions: reads see earlier writes of the same
 * transaction, and throwing anywhere rolls all of it back.
 */
export interface TransactionView {
  exists(kind: RecordKind, key: string | number): Promise<boolean>;
  /** The stored revision of a session, or null when there is none. */
  sessionRevision(peerDid: string): Promise<number | null>;
  counters(): Promise<PreKeyCounters>;
  put(kind: RecordKind, key: string | number, write: StoreWrite): Promise<void>;
  delete(kind: RecordKind, key: string | number): Promise<void>;
}

/** Checks each precondition in order and applies each write; the adapter's transaction makes it atomic. */
export async function applyBatch(view: TransactionView, batch: readonly StoreWrite[]): Promise<void> {
  for (const w of batch) {
    switch (w.op) {
      case 'addIdentity':
        if (await view.exists('identity', IDENTITY_KEY)) throw new StoreConflictError('an identity is already stored');
        await view.put('identity', IDENTITY_KEY, w);
        break;
      case 'putSignedPreKey':
        if (w.ifAbsent && (await view.exists('signedPreKey', w.record.keyId))) {
          throw new StoreConflictError(`signed pre-key id ${w.record.keyId} is taken`);
        }
        await view.put('signedPreKey', w.record.keyId, w);
        break;
      case 'deleteSignedPreKey':
        await view.delete('signedPreKey', w.keyId);
        break;
      case 'addOneTimePreKey':
        if (await view.exists('oneTimePreKey', w.record.keyId)) throw new StoreConflictError(`one-time pre-key id ${w.record.keyId} is taken`);
        await view.put('oneTimePreKey', w.record.keyId, w);
        break;
      case 'consumeOneTimePreKey':
        if (!(await view.exists('oneTimePreKey', w.keyId))) {
          throw new PreKeyNotFoundError(`one-time pre-key ${w.keyId} not found or already consumed`);
        }
        await view.delete('oneTimePreKey', w.keyId);
        break;
      case 'setCounters': {
        const now = await view.counters();
        if (now.nextSignedPreKeyId !== w.expected.nextSignedPreKeyId || now.nextOneTimePreKeyId !== w.expected.nextOneTimePreKeyId) {
          throw new StoreConflictError('pre-key counters changed since they were read');
        }
        await view.put('meta', COUNTERS_KEY, w);
        break;
      }
      case 'putSession': {
        const current = await view.sessionRevision(w.record.peerDid);
        if (current !== w.expectedRevision) {
          throw new StoreConflictError(
            `session with ${w.record.peerDid} is at revision ${current ?? 'none'}, the write expected ${w.expectedRevision ?? 'none'}`,
          );
        }
        await view.put('session', w.record.peerDid, w);
        break;
      }
      case 'deleteSession': {
        if (w.expectedRevision !== undefined) {
          const current = await view.sessionRevision(w.peerDid);
          if (current !== w.expectedRevision) throw new StoreConflictError(`session with ${w.peerDid} changed since it was read`);
        }
        await view.delete('session', w.peerDid);
        break;
      }
    }
  }
}


/** The value a `put` stores for a write: the record, or the counters. */
export function writtenValue(w: StoreWrite): IdentityRecord | SignedPreKeyRecord | OneTimePreKeyRecord | SessionRecord | PreKeyCounters {
  switch (w.op) {
    case 'addIdentity':
    case 'putSignedPreKey':
    case 'addOneTimePreKey':
    case 'putSession':
      return w.record;
    case 'setCounters':
      return w.counters;
    default:
      throw new TypeError(`${w.op} stores no value`);
  }
}
