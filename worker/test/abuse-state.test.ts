// State created by strangers (issue 14, class 6): requests about DIDs nobody registered leave no
// database behind, whoever sends them and however many; heartbeats write at most once per
// interval; and a database of the previous schema is brought forward without losing a frame.
import { SELF, runInDurableObject } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentIdentity } from '../../src/identity/agent-identity.js';
import { AgentStore } from '../agent-store.js';
import type { AgentObject } from '../agent-object.js';
import { BASE, TestSocket, agentStub, messageFrame, registeredAgent, shiftClock, signedRequest } from './helpers.js';

const open: TestSocket[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

/** The tables of an agent's object (the runtime's own `_cf_` tables aside). */
async function tables(did: string): Promise<string[]> {
  return runInDurableObject(agentStub(did), (_o: AgentObject, state) =>
    state.storage.sql
      .exec("SELECT name FROM sqlite_master WHERE type = 'table'")
      .toArray()
      .map((r) => String(r.name))
      .filter((n) => !n.startsWith('_cf_') && n !== 'sqlite_sequence'),
  );
}

describe('requests about unregistered agents', () => {
  it('leave no database in the objects of the DIDs they name, signed or not', async () => {
    const mallory = await registeredAgent();
    const ghosts = await Promise.all(Array.from({ length: 12 }, () => AgentIdentity.generate()));
    for (const ghost of ghosts) {
      const did = ghost.did;
      for (const path of [`/v1/agents/${did}`, `/v1/agents/${did}/prekeys`, `/v1/agents/${did}/presence`]) {
        expect((await SELF.fetch(BASE + path)).status).toBe(404);
      }
      expect((await SELF.fetch(`${BASE}/v1/agents/${did}/relay`, { headers: { upgrade: 'websocket' } })).status).toBe(404);
      // Signed by a registered agent: a frame, a vote, and a registration of the ghost's DID signed with the wrong key.
      const frame = messageFrame(mallory.did, did);
      expect((await SELF.fetch(await signedRequest(mallory.identity, 'POST', `/v1/agents/${did}/inbox`, { body: JSON.stringify(frame) }))).status).toBe(404);
      expect((await SELF.fetch(await signedRequest(mallory.identity, 'POST', `/v1/agents/${did}/reputation`, { body: '{"score":1}' }))).status).toBe(404);
      const registration = JSON.stringify({ did, public_key: Buffer.from(ghost.publicKey).toString('base64url') });
      expect((await SELF.fetch(await signedRequest(mallory.identity, 'POST', '/v1/agents', { body: registration }))).status).toBe(403);
      // Requests signed by the ghost itself wake its object to look up its key.
      expect((await SELF.fetch(await signedRequest(ghost, 'GET', `/v1/agents/${mallory.did}/prekeys`))).status).toBe(401);
    }
    for (const ghost of ghosts) expect(await tables(ghost.did)).toEqual([]);
    // The control: a registered agent's object has its tables.
    expect(await tables(mallory.did)).toContain('registration');
  });
});

describe('heartbeats', () => {
  it('write storage at most once per heartbeat interval, not once per frame', async () => {
    const bob = await registeredAgent();
    const socket = await TestSocket.connectSigned(bob.identity);
    open.push(socket);
    const writes = await runInDurableObject(agentStub(bob.did), (o: AgentObject) => {
      const counter = { n: 0 };
      const sql = (o.store as unknown as { sql: SqlStorage }).sql;
      const exec = sql.exec.bind(sql);
      (sql as { exec: SqlStorage['exec'] }).exec = ((query: string, ...args: unknown[]) => {
        // Every statement that may write counts, whether or not it changed a row.
        if (/^\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER)\b/i.test(query)) counter.n += 1;
        return exec(query, ...args);
      }) as SqlStorage['exec'];
      (globalThis as { heartbeatWrites?: { n: number } }).heartbeatWrites = counter;
      return counter.n;
    });
    expect(writes).toBe(0);
    const counted = () => runInDurableObject(agentStub(bob.did), () => (globalThis as unknown as { heartbeatWrites: { n: number } }).heartbeatWrites.n);
    for (let i = 0; i < 40; i++) await socket.barrier(bob.did);
    expect(await counted()).toBe(0); // connect wrote last_seen a moment ago
    await shiftClock(bob.did, 31_000);
    for (let i = 0; i < 40; i++) await socket.barrier(bob.did);
    expect(await counted()).toBe(1);
    // And presence still tells the truth.
    expect(await bob.client.presence(bob.did)).toMatchObject({ online: true });
  });
});

describe('the schema', () => {
  it('a version-1 inbox is rebuilt with never-reused seqs and sizes, keeping every frame', async () => {
    const bob = await registeredAgent();
    await runInDurableObject(agentStub(bob.did), (_o: AgentObject, state) => {
      const sql = state.storage.sql;
      sql.exec('DROP TABLE inbox');
      sql.exec(`CREATE TABLE inbox (
        seq INTEGER PRIMARY KEY, sender TEXT NOT NULL, id TEXT NOT NULL, frame TEXT NOT NULL,
        ts INTEGER NOT NULL, expires_at INTEGER NOT NULL, UNIQUE (sender, id))`);
      sql.exec("INSERT INTO inbox (sender, id, frame, ts, expires_at) VALUES ('did:agentmesh:x', 'a', '{\"é\":1}', 1, 9e15)");
      sql.exec("DELETE FROM meta WHERE k = 'schema'");
      const store = new AgentStore(sql, (fn) => state.storage.transactionSync(fn));
      expect(store.inbox(10)).toEqual([{ seq: 1, sender: 'did:agentmesh:x', id: 'a', frame: '{"é":1}' }]);
      expect(store.inboxUse()).toEqual({ count: 1, bytes: 8 });
      expect(store.getMeta('schema')).toBe('2');
      // Acknowledging the newest frame does not give its seq to the next one.
      store.acknowledge('did:agentmesh:x', 'a', () => 9e15);
      expect(store.addToInbox('did:agentmesh:x', 'b', '{}', 2, false, 1, 9e15)).toBe(2);
    });
  });
});
