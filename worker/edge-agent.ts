import { DurableObject } from 'cloudflare:workers';
import { DurableObjectAgentStore, MeshAgent, toBase64Url, toHex, utf8, type WebSocketLike } from '../src/index.js';
import { canonicalJson } from '../src/protocol.js';
import type { Env } from './env.js';
import { json, methodNotAllowed, toErrorResponse } from './http.js';
import { route } from './router.js';

/** What the edge agent signs for each message it receives (the signature covers the prefix and the canonical JSON). */
export const RECEIPT_CONTEXT = 'agentmesh-demo-receipt/v1\n';

export interface Receipt {
  /** The sender, as the relay and the session authenticated it. */
  for: string;
  by: string;
  /** Hex SHA-256 of the plaintext: the receipt proves what was read without repeating it. */
  message_sha256: string;
  /** Relay frame id of the message. */
  frame_id: string;
  /** Receipts issued by this agent so far, across restarts. */
  seq: number;
  /** The object instance that read it (changes when the object restarts). */
  instance: string;
  received_at: string;
}

const RECEIPTS_KEY = 'demo/receipts';

/**
 * An agent that lives in the Worker: one Durable Object (named `edge-agent`) runs a `MeshAgent`
 * whose identity, pre-keys and sessions are in the object's own storage (`DurableObjectAgentStore`).
 * It registers with this same service and talks to the relay in-process (no request to its own
 * URL), and answers every message with a signed receipt, sent back through the session.
 *
 * The object keeps only keys and sessions; plaintexts are hashed and dropped. A restarted object
 * (`POST /v1/edge-agent/restart` when `EDGE_AGENT_RESTART = "true"`, an eviction, a deploy) starts
 * again from storage on the next request, and frames that arrived meanwhile wait in its inbox.
 */
export class EdgeAgentObject extends DurableObject<Env> {
  /** Differs between instances of the object. */
  readonly instance = crypto.randomUUID();
  readonly startedAt = new Date().toISOString();
  #agent: Promise<MeshAgent> | null = null;

  override async fetch(request: Request): Promise<Response> {
    try {
      const url = new URL(request.url);
      if (url.pathname === '/v1/edge-agent/restart') {
        if (request.method !== 'POST') throw methodNotAllowed('POST');
        if (this.env.EDGE_AGENT_RESTART !== 'true') return json({ error: 'forbidden', message: 'restarts are turned off (EDGE_AGENT_RESTART)' }, 403);
        // Like a crash: nothing is closed or flushed first; only what the store holds survives.
        this.ctx.abort('restart requested');
        return json({ restarted: true }, 202);
      }
      if (request.method !== 'GET') throw methodNotAllowed('GET');
      const agent = await this.#ensure(url.origin);
      return json({
        did: agent.did,
        instance: this.instance,
        started_at: this.startedAt,
        receipts: ((await this.ctx.storage.get(RECEIPTS_KEY)) as number | undefined) ?? 0,
        sessions: (await agent.sessions.listSessions()).length,
        relay: agent.relay.state,
        restart_enabled: this.env.EDGE_AGENT_RESTART === 'true',
      });
    } catch (error) {
      return toErrorResponse(error);
    }
  }

  #ensure(origin: string): Promise<MeshAgent> {
    if (!this.#agent) {
      this.#agent = this.#start(origin);
      this.#agent.catch(() => {
        this.#agent = null;
      });
    }
    return this.#agent.then((agent) => {
      if (agent.isClosed || agent.relay.state === 'closed') {
        this.#agent = null;
        return this.#ensure(origin);
      }
      return agent;
    });
  }

  async #start(origin: string): Promise<MeshAgent> {
    const env = this.env;
    // The service, called in-process: same routing, same authentication, no network.
    const fetch = (input: string, init?: RequestInit) => route(new Request(input, init), env);
    const webSocket = async (url: string): Promise<WebSocketLike> => {
      const response = await route(new Request(url.replace(/^ws/, 'http'), { headers: { upgrade: 'websocket' } }), env);
      const ws = response.webSocket;
      if (!ws) throw new Error(`the relay answered ${response.status} instead of a WebSocket`);
      ws.accept();
      return ws as unknown as WebSocketLike;
    };
    const store = await DurableObjectAgentStore.open(this.ctx.storage);
    const agent = await MeshAgent.create({
      registryUrl: origin,
      store,
      capabilities: ['demo-chat', 'receipts'],
      metadata: { name: 'edge agent', kind: 'durable-object' },
      fetch,
      webSocket,
      upkeepIntervalMs: 0,
    });
    agent.onMessage(async (from, plaintext, info) => {
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', plaintext as Uint8Array<ArrayBuffer>));
      plaintext.fill(0);
      const seq = (((await this.ctx.storage.get(RECEIPTS_KEY)) as number | undefined) ?? 0) + 1;
      await this.ctx.storage.put(RECEIPTS_KEY, seq);
      const receipt: Receipt = {
        for: from,
        by: agent.did,
        message_sha256: toHex(digest),
        frame_id: info.id,
        seq,
        instance: this.instance,
        received_at: new Date().toISOString(),
      };
      const signature = await agent.identity.sign(utf8(RECEIPT_CONTEXT + canonicalJson(receipt)));
      await agent.send(from, JSON.stringify({ agentmesh_receipt: 1, receipt, signature: toBase64Url(signature) }));
    });
    return agent;
  }
}
