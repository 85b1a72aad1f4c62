import { InvalidBundleError } from '../errors.js';
import type { PreKeyBundle } from '../x3dh/bundle.js';
import type { PreKeyStore } from '../x3dh/prekey-store.js';
import type { RegistryClient } from './registry-client.js';

/**
 * `PreKeyStore` over the registry. `getBundle` claims one one-time pre-key on the server (never
 * handed out twice); `storeBundle` publishes the client's own bundle (signed pre-key and, if the
 * bundle has one, its one-time pre-key). To publish many one-time pre-keys at once, use
 * `RegistryClient.uploadPreKeys` or `PreKeyUpkeep`.
 */
export class HttpPreKeyStore implements PreKeyStore {
  constructor(readonly registry: RegistryClient) {}

  async storeBundle(agentDid: string, bundle: PreKeyBundle): Promise<void> {
    if (agentDid !== this.registry.did) {
      throw new InvalidBundleError(`this store publishes only ${this.registry.did}'s own bundle, not ${agentDid}'s`);
    }
    await this.registry.uploadPreKeys({
      identityKey: bundle.identityKey,
      identityKeyEd: bundle.identityKeyEd,
      signedPreKey: { keyId: bundle.signedPreKeyId, publicKey: bundle.signedPreKey, signature: bundle.signedPreKeySignature },
      oneTimePreKeys:
        bundle.oneTimePreKey && bundle.oneTimePreKeyId !== null ? [{ keyId: bundle.oneTimePreKeyId, publicKey: bundle.oneTimePreKey }] : [],
    });
  }

  async getBundle(agentDid: string): Promise<PreKeyBundle | null> {
    return this.registry.fetchBundle(agentDid);
  }
}
