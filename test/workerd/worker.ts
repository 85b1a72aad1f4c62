import { DurableObject } from 'cloudflare:workers';
import { AgentIdentity } from '../../src/identity/agent-identity.js';
import { fromUtf8, utf8 } from '../../src/encoding.js';
import { encodeBundle, type BundleJson } from '../../src/x3dh/bundle.js';
import { encodeEstablishment, type EstablishmentJson } from '../../src/channel/establishment.js';
import { SessionManager } from '../../src/session/index.js';
import { DurableObjectAgentStore } from '../../src/storage/index.js';

/**
 * One agent per object: its identity, pre-keys and sessions live in the object's own storage, so an
 * evicted or restarted object picks every session up again from there.
 */
export class AgentHost extends DurableObject {
  /** Differs between instances: a restarted object gets a new one. */
  readonly instance = crypto.randomUUID();
  #manager!: SessionManager;

  constructor(ctx: ConstructorParameters<typeof DurableObject>[0], env: unknown) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      const store = await DurableObjectAgentStore.open(ctx.storage);
      if (await store.getIdentity()) {
        this.#manager = await SessionManager.open({ store });
        return;
      }
      const identity = await AgentIdentity.generate();
      this.#manager = await SessionManager.open({ store, identity });
      identity.wipe();
      await this.#manager.preKeys.rotateSignedPreKey();
      await this.#manager.preKeys.generateOneTimePreKeys(5);
    });
  }

  instanceId(): string {
    return this.instance;
  }

  did(): string {
    return this.#manager.did;
  }

  async bundle(): Promise<BundleJson> {
    const [otk] = await this.#manager.preKeys.oneTimePreKeyIds();
    return encodeBundle(await this.#manager.preKeys.getPublicBundle(otk ?? null));
  }

  async oneTimePreKeyIds(): Promise<number[]> {
    return this.#manager.preKeys.oneTimePreKeyIds();
  }

  async initiate(peerDid: string, bundle: BundleJson): Promise<EstablishmentJson> {
    return encodeEstablishment(await this.#manager.initiate(peerDid, bundle));
  }

  async accept(peerDid: string, establishment: EstablishmentJson, firstMessage: Uint8Array): Promise<string> {
    return fromUtf8((await this.#manager.accept(peerDid, establishment, { firstMessage }))!);
  }

  async send(peerDid: string, text: string): Promise<Uint8Array> {
    return (await this.#manager.send(peerDid, utf8(text))).serialize();
  }

  async receive(peerDid: string, message: Uint8Array): Promise<string> {
    return fromUtf8(await this.#manager.receive(peerDid, message));
  }

  async sessions(): Promise<string[]> {
    return this.#manager.listSessions();
  }
}

export default {
  async fetch(): Promise<Response> {
    return new Response('agentmesh session store test worker');
  },
};
