import { DurableObject } from 'cloudflare:workers';
import { fromBase64Any, getDefaultCryptoProvider, toBase64Url } from '../src/index.js';
import { bodyDigest, parseAuthorization } from '../src/protocol.js';
import { authenticate, type Authenticated } from './auth.js';
import { AgentStore, type Registration } from './agent-store.js';
import { loadConfig, type Config } from './config.js';
import type { Env } from './env.js';
import {
  HttpError,
  badRequest,
  clientAddress,
  json,
  methodNotAllowed,
  notFound,
  parseJsonObject,
  readBody,
  toErrorResponse,
} from './http.js';
import type { PreKeyHost, RelayHost, RequestContext } from './host.js';
import { handlePreKeyCount, handlePreKeyFetch, handlePreKeyUpload } from './prekeys.js';
import { RateLimiter } from './rate-limit.js';
import { Relay } from './relay.js';
import type { AgentRpc, DeliverResult } from './rpc.js';
import { checkRegistration, readCapabilities, readKey, readMetadata } from './validate.js';

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw badRequest('invalid_did', 'the path holds malformed percent-encoding');
  }
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * One agent: its registration, pre-keys, inbox and live WebSocket(s). Named by the agent's DID
 * (`idFromName(did)`), so every request about one agent meets the same single-threaded object.
 * The relay and the pre-key handlers see it through the narrow hosts of host.ts.
 */
export class AgentObject extends DurableObject<Env> implements AgentRpc, RelayHost, PreKeyHost {
  readonly store: AgentStore;
  readonly relay: Relay;
  config: Config;
  /** The clock; tests move it to exercise expiry. */
  now: () => number = () => Date.now();
  limiter: RateLimiter;
  claimLimiter: RateLimiter;
  #lastPurge = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.config = loadConfig(env);
    this.store = new AgentStore(ctx.storage.sql, (fn) => ctx.storage.transactionSync(fn));
    this.limiter = new RateLimiter(this.config.rateLimitPerMinute);
    this.claimLimiter = new RateLimiter(this.config.preKeyClaimsPerMinute);
    this.relay = new Relay(this);
  }

  /** The object's state, for the handlers in other modules (each sees the part its host names). */
  get state(): DurableObjectState {
    return this.ctx;
  }

  // RPC from other objects

  /** The registered Ed25519 key (base64url), or null. */
  async publicKey(): Promise<string | null> {
    return this.store.registration()?.publicKey ?? null;
  }

  /** Stores a frame another agent sent here and pushes it to an open socket. */
  async deliver(frameText: string, sender: string, id: string, tsMs: number, urgent = false): Promise<DeliverResult> {
    return this.relay.deliverLocal(frameText, sender, id, tsMs, urgent);
  }

  async notePeer(peer: string): Promise<void> {
    this.relay.notePeer(peer);
  }

  // HTTP

  override async fetch(request: Request): Promise<Response> {
    try {
      return await this.#route(request);
    } catch (error) {
      return toErrorResponse(error);
    }
  }

  override async alarm(): Promise<void> {
    await this.relay.sweep();
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    await this.relay.onMessage(ws, message);
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    this.relay.onClose(ws, code);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.relay.onClose(ws, 1011);
  }

  async #route(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const ctx: RequestContext = { request, url, signedPath: url.pathname + url.search, now: this.now() };
    this.rateLimit(`ip:${clientAddress(request)}`, ctx.now);
    // Expiry mostly runs from the alarm; this catches up when an alarm is late, without a write per request.
    if (ctx.now - this.#lastPurge > 10_000) {
      this.#lastPurge = ctx.now;
      this.store.purge(ctx.now, this.config.signedPreKeyRetentionMs);
    }
    const [, , , rawDid, sub, sub2, ...rest] = url.pathname.split('/');
    const did = rawDid === undefined ? undefined : decodeSegment(rawDid);
    const method = request.method;
    if (did === undefined) {
      if (method !== 'POST') throw methodNotAllowed('POST');
      return this.#register(ctx);
    }
    const route = [sub ?? '', sub2 ?? ''].join('/');
    if (rest.length > 0) throw notFound();
    switch (route) {
      case '/':
        if (method === 'GET') return json(this.#agentView(this.#registered(did), ctx.now));
        if (method === 'DELETE') return this.#deregister(ctx, did);
        throw methodNotAllowed('GET, DELETE');
      case 'prekeys/':
        if (method === 'PUT') return handlePreKeyUpload(this, ctx, did);
        if (method === 'GET') return handlePreKeyFetch(this, ctx, did);
        throw methodNotAllowed('GET, PUT');
      case 'prekeys/count':
        if (method === 'GET') return handlePreKeyCount(this, ctx, did);
        throw methodNotAllowed('GET');
      case 'presence/':
        if (method === 'GET') return json(this.#presence(this.#registered(did), ctx.now));
        throw methodNotAllowed('GET');
      case 'reputation/':
        if (method === 'POST') return this.#vote(ctx, did);
        throw methodNotAllowed('POST');
      case 'inbox/':
        if (method === 'POST') return this.relay.httpPost(ctx, did);
        if (method === 'GET') return this.relay.httpFetch(ctx, did);
        throw methodNotAllowed('GET, POST');
      case 'inbox/ack':
        if (method === 'POST') return this.relay.httpAck(ctx, did);
        throw methodNotAllowed('POST');
      case 'inbox/purge':
        if (method === 'POST') return this.relay.httpPurge(ctx, did);
        throw methodNotAllowed('POST');
      case 'relay/':
        if (method === 'GET') return this.relay.upgrade(ctx, did);
        throw methodNotAllowed('GET');
      default:
        throw notFound();
    }
  }

  // Helpers shared by the handlers

  rateLimit(key: string, now: number, limiter = this.limiter): void {
    const wait = limiter.hit(key, now);
    if (wait > 0) throw new HttpError(429, 'rate_limited', 'too many requests; slow down', { 'retry-after': String(wait) });
  }

  limitClaims(caller: string, now: number): void {
    this.rateLimit(caller, now, this.claimLimiter);
  }

  async deliverTo(did: string, frameText: string, sender: string, id: string, tsMs: number, urgent: boolean): Promise<DeliverResult> {
    return this.env.AGENTS.get(this.env.AGENTS.idFromName(did)).deliver(frameText, sender, id, tsMs, urgent);
  }

  async notePeerOf(sender: string, peer: string): Promise<void> {
    if (sender === this.store.registration()?.did) return this.relay.notePeer(peer);
    try {
      await this.env.AGENTS.get(this.env.AGENTS.idFromName(sender)).notePeer(peer);
    } catch {
      // Standing is an optimisation of quotas; the frame itself was stored.
    }
  }

  /** The registration, if `did` is the agent this object holds. */
  #registered(did: string): Registration {
    const reg = this.store.registration();
    if (!reg || reg.did !== did) throw notFound('no agent is registered under this DID');
    return reg;
  }

  registered(did: string): Registration {
    return this.#registered(did);
  }

  /** Authenticates any registered agent (someone else's key is fetched from its own object). */
  async authenticate(ctx: RequestContext, body: Uint8Array | null, ownKey?: { did: string; key: Uint8Array }): Promise<Authenticated> {
    const auth = await authenticate(
      {
        header: ctx.authorization !== undefined ? ctx.authorization : ctx.request.headers.get('authorization'),
        method: ctx.request.method,
        path: ctx.signedPath,
        digestHex: bodyDigest(body),
      },
      {
        config: this.config,
        now: ctx.now,
        keyFor: (signer) => this.keyFor(signer, ownKey),
        remember: (key, expiresAt) => this.store.rememberSignature(key, expiresAt),
      },
    );
    await this.relay.scheduleAlarm(ctx.now + this.config.authWindowMs * 2);
    this.rateLimit(`did:${auth.did}`, ctx.now);
    return auth;
  }

  async keyFor(signer: string, ownKey?: { did: string; key: Uint8Array }): Promise<Uint8Array | null> {
    if (ownKey && ownKey.did === signer) return ownKey.key;
    const reg = this.store.registration();
    if (reg && reg.did === signer) return fromBase64Any(reg.publicKey);
    const key = await this.env.AGENTS.get(this.env.AGENTS.idFromName(signer)).publicKey();
    return key === null ? null : fromBase64Any(key);
  }

  /** Authenticates the agent this object holds; anyone else gets 403. */
  async authenticateOwner(ctx: RequestContext, did: string, body: Uint8Array | null): Promise<Registration> {
    const reg = this.#registered(did);
    const auth = await this.authenticate(ctx, body);
    if (auth.did !== reg.did) throw new HttpError(403, 'forbidden', 'only the agent itself may do this');
    return reg;
  }

  async #register(ctx: RequestContext): Promise<Response> {
    const body = await readBody(ctx.request, this.config.maxRegistrationBytes);
    const fields = parseJsonObject(body);
    const publicKey = readKey(fields.public_key, 'public_key');
    const did = checkRegistration(fields.did, publicKey);
    const capabilities = readCapabilities(fields.capabilities, this.config);
    const metadata = readMetadata(fields.metadata, this.config);
    // Proof of possession: only the key's holder may register (or update) its DID.
    const existing = this.store.registration();
    if (existing && existing.did !== did) throw new HttpError(409, 'conflict', 'this object holds another agent');
    // Checked before the signature is verified and remembered: a request signed by another agent
    // must not leave a replay-cache entry (a database) in the object of a DID nobody registered.
    if (parseAuthorization(ctx.request.headers.get('authorization')).did !== did) {
      throw new HttpError(403, 'forbidden', 'an agent registers itself: sign with the key being registered');
    }
    const auth = await this.authenticate(ctx, body, { did, key: publicKey });
    if (auth.did !== did) throw new HttpError(403, 'forbidden', 'an agent registers itself: sign with the key being registered');
    const identityKey = toBase64Url(getDefaultCryptoProvider().ed25519ToX25519Public(publicKey));
    const created = this.store.register({ did, publicKey: toBase64Url(publicKey), identityKey, capabilities, metadata }, ctx.now);
    const reg = this.#registered(did);
    await this.directory().upsert(did, capabilities, this.store.reputation().trustScore);
    return json(this.#agentView(reg, ctx.now), created ? 201 : 200);
  }

  async #deregister(ctx: RequestContext, did: string): Promise<Response> {
    await this.authenticateOwner(ctx, did, null);
    this.store.deleteAgent();
    this.relay.closeAll(4404, 'agent deregistered');
    await this.directory().remove(did);
    return json({ deleted: true, did });
  }

  async #vote(ctx: RequestContext, did: string): Promise<Response> {
    this.#registered(did);
    const body = await readBody(ctx.request, this.config.maxSmallBodyBytes);
    const auth = await this.authenticate(ctx, body);
    if (auth.did === did) throw new HttpError(403, 'forbidden', 'an agent cannot vote on itself');
    const fields = parseJsonObject(body);
    const score = fields.score;
    if (typeof score !== 'number' || !Number.isInteger(score) || score < 0 || score > 1000) {
      throw badRequest('invalid_field', '"score" must be an integer from 0 to 1000');
    }
    const comment = fields.comment ?? null;
    if (comment !== null && (typeof comment !== 'string' || comment.length > 280)) {
      throw badRequest('invalid_field', '"comment" must be a string of at most 280 characters');
    }
    this.store.vote(auth.did, score, comment, ctx.now, this.config.maxVotes);
    const reputation = this.store.reputation();
    await this.directory().setTrustScore(did, reputation.trustScore);
    return json({ did, trust_score: reputation.trustScore, reputation: { votes: reputation.votes, average: reputation.average } });
  }

  #presence(reg: Registration, now: number) {
    const { online, lastSeen } = this.relay.presence(now);
    return { did: reg.did, online, last_seen: iso(lastSeen) };
  }

  #agentView(reg: Registration, now: number) {
    const reputation = this.store.reputation();
    const { online, lastSeen } = this.relay.presence(now);
    return {
      did: reg.did,
      public_key: reg.publicKey,
      capabilities: reg.capabilities,
      metadata: JSON.parse(reg.metadata) as unknown,
      registered_at: iso(reg.registeredAt),
      updated_at: iso(reg.updatedAt),
      trust_score: reputation.trustScore,
      reputation: { votes: reputation.votes, average: reputation.average },
      online,
      last_seen: iso(lastSeen),
    };
  }

  directory() {
    return this.env.DIRECTORY.get(this.env.DIRECTORY.idFromName('directory'));
  }
}
