import { getDefaultCryptoProvider, type CryptoProvider } from '../crypto/index.js';
import { fromBase64Any, toBase64Url, type Bytes } from '../encoding.js';
import { AgentMeshError, InvalidBundleError, InvalidDidError } from '../errors.js';
import type { AgentIdentity } from '../identity/agent-identity.js';
import { checkDidKey, isValidDid } from '../identity/did.js';
import { decodeBundle, verifyBundleKeys, type PreKeyBundle } from '../x3dh/bundle.js';
import { RegistryError } from './errors.js';
import { checkEnvelope, checkRoutedFrame, type Frame, type RoutedFrame } from './frames.js';
import { defaultFetch, readLimitedText, type FetchLike } from './http.js';
import { encodePreKeyUpload, type PreKeyUpload } from './prekey-upload.js';
import { RequestSigner } from './signing.js';

export interface RegistryClientOptions {
  /** The service's base URL, e.g. `http://127.0.0.1:8787` (a path prefix is kept). */
  baseUrl: string;
  /** Signs requests; needed for everything but public reads. */
  identity?: AgentIdentity;
  fetch?: FetchLike;
  crypto?: CryptoProvider;
  /** Clock for request timestamps (ms since the epoch). */
  now?: () => number;
  /** Largest answer read (default 1 MiB). */
  maxResponseBytes?: number;
}

export interface AgentInfo {
  did: string;
  publicKey: Bytes;
  capabilities: string[];
  metadata: Record<string, unknown>;
  registeredAt: string;
  updatedAt: string;
  /** 0–1000: votes from other agents pulled towards 500 while they are few. */
  trustScore: number;
  reputation: { votes: number; average: number | null };
  online: boolean;
  lastSeen: string | null;
}

export interface PreKeyStatus {
  oneTimePreKeys: number;
  signedPreKey: { keyId: number; createdAt: string } | null;
  retainedSignedPreKeys: { keyId: number; retiredAt: string }[];
}

export interface Presence {
  did: string;
  online: boolean;
  lastSeen: string | null;
}

export interface DiscoveredAgent {
  did: string;
  capabilities: string[];
  trustScore: number;
}

export interface InboxPage {
  frames: RoutedFrame[];
  /** Cursor for the next page, or null. */
  next: number | null;
}

type Json = Record<string, unknown>;

const DEFAULT_MAX_RESPONSE = 1024 * 1024;

/**
 * Client for the registry's REST endpoints (`/v1/agents/…`, `/v1/discover`) and the relay's HTTP
 * fallback. Uses only `fetch`, so it runs in browsers, Workers and Node alike.
 */
export class RegistryClient {
  readonly baseUrl: string;
  readonly #fetch: FetchLike;
  readonly #signer: RequestSigner | null;
  readonly #crypto: CryptoProvider;
  readonly #maxResponse: number;

  constructor(options: RegistryClientOptions) {
    const base = new URL(options.baseUrl);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new TypeError('baseUrl must be http: or https:');
    this.baseUrl = base.href.replace(/\/+$/, '');
    this.#fetch = options.fetch ?? defaultFetch;
    this.#signer = options.identity ? new RequestSigner(options.identity, { now: options.now }) : null;
    this.#crypto = options.crypto ?? getDefaultCryptoProvider();
    this.#maxResponse = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE;
  }

  /** The DID requests are signed as. */
  get did(): string {
    return this.#requireSigner().did;
  }

  /** Registers this identity (or updates its capabilities and metadata). */
  async register(options: { capabilities?: string[]; metadata?: Record<string, unknown> } = {}): Promise<AgentInfo> {
    const signer = this.#requireSigner();
    const body = {
      did: signer.did,
      public_key: toBase64Url(signer.identity.publicKey),
      capabilities: options.capabilities ?? [],
      metadata: options.metadata ?? {},
    };
    const json = await this.#request('POST', '/v1/agents', { body, signed: true });
    return shaped('register', () => toAgentInfo(json));
  }

  /** Public registration data and trust score; null if the DID is not registered. */
  async getAgent(did: string): Promise<AgentInfo | null> {
    const json = await this.#request('GET', agentPath(did), { allow404: true });
    return json ? shaped('getAgent', () => toAgentInfo(json)) : null;
  }

  /** Removes this agent and everything stored for it. */
  async deregister(): Promise<void> {
    await this.#request('DELETE', agentPath(this.did), { signed: true });
  }

  async uploadPreKeys(upload: PreKeyUpload): Promise<{ signedPreKeyId: number; oneTimePreKeys: number }> {
    const json = await this.#request('PUT', `${agentPath(this.did)}/prekeys`, { body: encodePreKeyUpload(upload), signed: true });
    return shaped('uploadPreKeys', () => ({ signedPreKeyId: json!.signed_pre_key_id as number, oneTimePreKeys: json!.one_time_pre_keys as number }));
  }

  /**
   * Fetches a bundle, claiming one one-time pre-key. Null if the agent is unknown or has
   * published no pre-keys. The bundle's keys are checked against the DID before it is returned.
   */
  async fetchBundle(did: string): Promise<PreKeyBundle | null> {
    const json = await this.#request('GET', `${agentPath(did)}/prekeys`, { allow404: true, signed: this.#signer !== null });
    if (!json) return null;
    const bundle = decodeBundle(json);
    await checkBundleBelongsTo(did, bundle, this.#crypto);
    return bundle;
  }

  /** How many one-time pre-keys are left and which signed pre-key is current (own agent). */
  async preKeyStatus(): Promise<PreKeyStatus> {
    const json = (await this.#request('GET', `${agentPath(this.did)}/prekeys/count`, { signed: true }))!;
    return shaped('preKeyStatus', () => {
      const spk = json.signed_pre_key as { key_id: number; created_at: string } | null;
      const retained = (json.retained_signed_pre_keys ?? []) as { key_id: number; retired_at: string }[];
      return {
        oneTimePreKeys: json.one_time_pre_keys as number,
        signedPreKey: spk ? { keyId: spk.key_id, createdAt: spk.created_at } : null,
        retainedSignedPreKeys: retained.map((k) => ({ keyId: k.key_id, retiredAt: k.retired_at })),
      };
    });
  }

  async presence(did: string): Promise<Presence | null> {
    const json = await this.#request('GET', `${agentPath(did)}/presence`, { allow404: true });
    return json ? shaped('presence', () => ({ did: json.did as string, online: json.online as boolean, lastSeen: (json.last_seen as string | null) ?? null })) : null;
  }

  /** One vote (0–1000) about another agent; voting again replaces the earlier vote. */
  async reportReputation(did: string, vote: { score: number; comment?: string }): Promise<{ trustScore: number; votes: number }> {
    const json = (await this.#request('POST', `${agentPath(did)}/reputation`, { body: vote, signed: true }))!;
    return shaped('reportReputation', () => ({ trustScore: json.trust_score as number, votes: (json.reputation as { votes: number }).votes }));
  }

  /** Agents that hold every given capability, highest trust score first. */
  async discover(query: { capability?: string | string[]; limit?: number } = {}): Promise<DiscoveredAgent[]> {
    const params = new URLSearchParams();
    for (const c of [query.capability ?? []].flat()) params.append('capability', c);
    if (query.limit !== undefined) params.set('limit', String(query.limit));
    const qs = params.toString();
    const json = (await this.#request('GET', `/v1/discover${qs ? `?${qs}` : ''}`))!;
    return shaped('discover', () =>
      (json.agents as { did: string; capabilities: string[]; trust_score: number }[]).map((a) => ({
        did: a.did,
        capabilities: a.capabilities,
        trustScore: a.trust_score,
      })),
    );
  }

  /** HTTP fallback: stores one frame in the recipient's inbox (pushed at once if it is online). */
  async postFrame(frame: Frame): Promise<{ id: string; status: string }> {
    const routed = checkRoutedFrame(checkEnvelope(frame));
    const json = (await this.#request('POST', `${agentPath(routed.to)}/inbox`, { body: routed, signed: true }))!;
    return shaped('postFrame', () => ({ id: json.id as string, status: json.status as string }));
  }

  /** HTTP fallback: this agent's waiting frames, oldest first. They stay until acknowledged. */
  async fetchInbox(options: { limit?: number; after?: number } = {}): Promise<InboxPage> {
    const params = new URLSearchParams();
    if (options.limit !== undefined) params.set('limit', String(options.limit));
    if (options.after !== undefined) params.set('after', String(options.after));
    const qs = params.toString();
    const json = (await this.#request('GET', `${agentPath(this.did)}/inbox${qs ? `?${qs}` : ''}`, { signed: true }))!;
    return shaped('fetchInbox', () => ({
      frames: (json.frames as unknown[]).map((f) => checkRoutedFrame(checkEnvelope(f))),
      next: (json.next as number | null) ?? null,
    }));
  }

  /** HTTP fallback: deletes frames this agent has persisted. */
  async ackInbox(refs: readonly { from: string; id: string }[]): Promise<number> {
    const json = (await this.#request('POST', `${agentPath(this.did)}/inbox/ack`, { body: { acks: refs }, signed: true }))!;
    return json.acked as number;
  }

  #requireSigner(): RequestSigner {
    if (!this.#signer) throw new RegistryError(0, 'no_identity', 'this call is signed: give the RegistryClient an identity');
    return this.#signer;
  }

  async #request(
    method: string,
    path: string,
    options: { body?: unknown; signed?: boolean; allow404?: boolean } = {},
  ): Promise<Json | null> {
    const url = this.baseUrl + path;
    const parsed = new URL(url);
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (options.signed) headers.authorization = await this.#requireSigner().authorization(method, parsed.pathname + parsed.search, body);
    let response: Response;
    try {
      response = await this.#fetch(url, { method, headers, body });
    } catch (cause) {
      throw new RegistryError(0, 'network_error', `${method} ${path} failed: ${(cause as Error)?.message ?? cause}`, { cause });
    }
    const text = await readLimitedText(response, this.#maxResponse);
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      if (response.ok) throw new RegistryError(response.status, 'invalid_response', `${method} ${path}: the answer is not JSON`);
    }
    if (response.status === 404 && options.allow404) return null;
    if (!response.ok) {
      const err = (json ?? {}) as { error?: unknown; message?: unknown };
      const retry = Number(response.headers.get('retry-after'));
      throw new RegistryError(
        response.status,
        typeof err.error === 'string' ? err.error : `http_${response.status}`,
        typeof err.message === 'string' ? err.message : `${method} ${path} answered ${response.status}`,
        { retryAfterSeconds: Number.isFinite(retry) && retry > 0 ? retry : null },
      );
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new RegistryError(response.status, 'invalid_response', `${method} ${path}: expected a JSON object`);
    }
    return json as Json;
  }
}

/**
 * Reads the fields of an answer. An answer of the wrong shape is the service's fault and becomes a
 * `RegistryError` (`invalid_response`), never a TypeError; typed errors (a bad frame) pass through.
 */
function shaped<T>(what: string, read: () => T): T {
  try {
    return read();
  } catch (cause) {
    if (cause instanceof AgentMeshError) throw cause;
    throw new RegistryError(0, 'invalid_response', `${what}: the answer does not have the expected shape`, { cause });
  }
}

function agentPath(did: string): string {
  // A validated DID holds no "/", "?" or "%", so it can stand in the path as it is.
  if (!isValidDid(did)) throw new InvalidDidError(`not a DID: ${JSON.stringify(String(did).slice(0, 60))}`);
  return `/v1/agents/${did}`;
}

function toAgentInfo(json: Json | null): AgentInfo {
  if (!json) throw new RegistryError(0, 'invalid_response', 'empty answer');
  const reputation = (json.reputation ?? { votes: 0, average: null }) as { votes: number; average: number | null };
  return {
    did: json.did as string,
    publicKey: fromBase64Any(json.public_key as string),
    capabilities: (json.capabilities as string[]) ?? [],
    metadata: (json.metadata as Record<string, unknown>) ?? {},
    registeredAt: json.registered_at as string,
    updatedAt: json.updated_at as string,
    trustScore: json.trust_score as number,
    reputation,
    online: json.online === true,
    lastSeen: (json.last_seen as string | null) ?? null,
  };
}

/**
 * A bundle must be the DID's: the Ed25519 key derives the DID (for did:agentmesh), the X25519
 * identity key is its Montgomery form, and the signed pre-key verifies under it.
 */
export async function checkBundleBelongsTo(did: string, bundle: PreKeyBundle, crypto: CryptoProvider = getDefaultCryptoProvider()): Promise<void> {
  let binding: ReturnType<typeof checkDidKey>;
  try {
    binding = checkDidKey(did, bundle.identityKeyEd);
  } catch (cause) {
    throw new InvalidBundleError(`the bundle's identity key is refused: ${(cause as Error).message}`, { cause });
  }
  if (binding === 'mismatch') throw new InvalidBundleError(`the bundle's identity key does not belong to ${did}`);
  await verifyBundleKeys(bundle, crypto);
}
