import type { AgentInfo, RegistryClient } from '../net/registry-client.js';
import type { TrustProvider } from '../trust/provider.js';

/**
 * Trust scores and identity keys as the registry reports them. Lookups are cached briefly so that
 * one handshake (which asks for both) costs one request.
 */
export class RegistryTrustProvider implements TrustProvider {
  readonly #registry: RegistryClient;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, { at: number; info: Promise<AgentInfo | null> }>();

  constructor(registry: RegistryClient, options: { cacheTtlMs?: number; now?: () => number } = {}) {
    this.#registry = registry;
    this.#ttlMs = options.cacheTtlMs ?? 30_000;
    this.#now = options.now ?? Date.now;
  }

  async getTrustScore(did: string): Promise<number | null> {
    return (await this.#lookUp(did))?.trustScore ?? null;
  }

  async getPublicKey(did: string): Promise<Uint8Array | null> {
    return (await this.#lookUp(did))?.publicKey ?? null;
  }

  #lookUp(did: string): Promise<AgentInfo | null> {
    const now = this.#now();
    const hit = this.#cache.get(did);
    if (hit && now - hit.at < this.#ttlMs) return hit.info;
    if (this.#cache.size >= 1024) this.#cache.clear();
    const info = this.#registry.getAgent(did);
    this.#cache.set(did, { at: now, info });
    info.catch(() => this.#cache.delete(did));
    return info;
  }
}
