import { AgentMeshError } from '../errors.js';

/** No session with that peer is stored. */
export class SessionNotFoundError extends AgentMeshError {
  constructor(peerDid: string) {
    super('session_not_found', `no session with ${peerDid.slice(0, 300)}`);
  }
}

/** A session with that peer exists and the call did not ask to replace it. */
export class SessionExistsError extends AgentMeshError {
  constructor(peerDid: string) {
    super('session_exists', `a session with ${peerDid.slice(0, 300)} already exists (pass replace: true to start over)`);
  }
}

/** The store holds no identity and none was given to save. */
export class IdentityNotFoundError extends AgentMeshError {
  constructor(message = 'the store holds no identity: pass one to save on first use') {
    super('identity_not_found', message);
  }
}

/** An identity or key that is not the one it should be (the stored identity, or the key a DID names). */
export class IdentityMismatchError extends AgentMeshError {
  constructor(message: string) {
    super('identity_mismatch', message);
  }
}

/** The session manager was closed; its identity keys are zeroed. */
export class SessionManagerClosedError extends AgentMeshError {
  constructor() {
    super('session_manager_closed', 'the session manager is closed');
  }
}
