import { AgentMeshError } from '../errors.js';

/** A store that could not read or write (I/O failure, quota, aborted transaction). Nothing was changed. */
export class StorageError extends AgentMeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('storage_error', message, options);
  }
}

/**
 * A write whose precondition no longer held (another writer got there first, or an id is taken).
 * The whole batch was refused; the caller reloads and retries.
 */
export class StoreConflictError extends AgentMeshError {
  constructor(message: string) {
    super('store_conflict', message);
  }
}

/** A stored record that does not parse, fails its limits, or does not unwrap. Nothing is returned from it. */
export class CorruptRecordError extends AgentMeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('corrupt_record', message, options);
  }
}

/** A database written by a newer schema, or one whose layout is not the one its version claims. */
export class StorageSchemaError extends AgentMeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('schema_mismatch', message, options);
  }
}

/** The store was closed (by the caller, or because another tab needs to upgrade the schema). */
export class StoreClosedError extends AgentMeshError {
  constructor(message = 'the store is closed') {
    super('store_closed', message);
  }
}

/** A record handed to a store that breaks its shape or limits; the batch it was part of wrote nothing. */
export class InvalidRecordError extends AgentMeshError {
  constructor(message: string) {
    super('invalid_record', message);
  }
}
