import type { PreKeyBundle } from './bundle.js';

/** Where agents publish and fetch bundles (in memory, over HTTP from the registry, …). */
export interface PreKeyStore {
  storeBundle(agentDid: string, bundle: PreKeyBundle): Promise<void>;
  /** The bundle, with at most one one-time pre-key that is never handed out again; null if unknown. */
  getBundle(agentDid: string): Promise<PreKeyBundle | null>;
}

/**
 * A process-local store. Each stored bundle's one-time pre-key is handed out once; later fetches
 * get the bundle without it (X3DH then runs on the signed pre-key alone).
 */
export class InMemoryPreKeyStore implements PreKeyStore {
  readonly #bundles = new Map<string, PreKeyBundle>();

  async storeBundle(agentDid: string, bundle: PreKeyBundle): Promise<void> {
    this.#bundles.set(agentDid, bundle);
  }

  async getBundle(agentDid: string): Promise<PreKeyBundle | null> {
    const bundle = this.#bundles.get(agentDid);
    if (!bundle) return null;
    if (bundle.oneTimePreKey) this.#bundles.set(agentDid, { ...bundle, oneTimePreKey: null, oneTimePreKeyId: null });
    return bundle;
  }
}
