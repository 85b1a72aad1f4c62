import {
  AgentIdentity,
  AgentMeshError,
  IndexedDBAgentStore,
  MemoryAgentStore,
  MeshAgent,
  TrustError,
  fromBase64Any,
  fromUtf8,
  toHex,
  utf8,
  type RejectedFrame,
} from '../../src/index.js';
import { canonicalJson } from '../../src/protocol.js';
import { h, shortDid, time } from './dom.js';
import { RelayTap } from './relay-tap.js';

export type LogKind = 'sent' | 'received' | 'receipt' | 'refused' | 'rejected' | 'error' | 'info';

export interface LogEntry {
  at: number;
  kind: LogKind;
  text: string;
  peer?: string;
  frameId?: string;
  /** Hex SHA-256 of a sent text, to match the edge agent's receipts. */
  sha?: string;
  /** TrustError.reason, error code, … */
  reason?: string;
  tab: string;
}

export interface DhStep {
  self: string;
  remote: string | null;
  at: number;
}

export interface SessionView {
  peer: string;
  role: string;
  messageCount: number;
  revision: number;
  createdAt: number;
  updatedAt: number;
  trust: unknown;
  sendCount: number;
  receiveCount: number;
  previousSendCount: number;
  dhPublicKey: string;
  remoteDhPublicKey: string | null;
  skippedKeys: number;
  /** Opened before this page loaded: restored from IndexedDB. */
  restored: boolean;
  dhSteps: DhStep[];
}

/** What a panel needs from the page. */
export interface DemoContext {
  workerUrl: string;
  tab: string;
  loadedAt: number;
  /** Display name of a DID (another local agent, the edge agent) or a short DID. */
  label(did: string): string;
  /** Known peers for the "To" list: [label, did]. */
  peers(exclude: string): [string, string][];
  /** Gives a DID a display name (a throwaway agent the page made). */
  name(did: string, label: string): void;
  /** Wakes the edge agent before talking to it (its object may have been restarted or evicted). */
  wakeEdge(did: string): Promise<void>;
  changed(): void;
}

const RECEIPT_CONTEXT = 'agentmesh-demo-receipt/v1\n';
const DEFAULT_THRESHOLD = 500;
/** What the Worker's registry gives every new agent, so a threshold above it refuses newcomers. */
const NEW_AGENT_SCORE = 500;
const REFUSAL_THRESHOLD = 600;
const DID_IN_TEXT = /did:(?:agentmesh|mesh):[A-Za-z0-9._-]+/g;

async function sha256Hex(text: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', utf8(text) as Uint8Array<ArrayBuffer>)));
}

/** One agent: its IndexedDB store, its MeshAgent, its UI column. */
export class AgentPanel {
  readonly name: string;
  readonly dbName: string;
  readonly tap: RelayTap;
  readonly #ctx: DemoContext;
  readonly #prefix: string;
  store: IndexedDBAgentStore | null = null;
  agent: MeshAgent | null = null;
  did = '';
  score: number | null = null;
  sessions: SessionView[] = [];
  status = 'starting';
  /** The "To" list follows the first other agent until the person picks someone. */
  #recipientChosen = false;
  readonly root: HTMLElement;
  readonly #els: Record<string, HTMLElement> = {};

  constructor(name: string, ctx: DemoContext) {
    this.name = name;
    this.dbName = `agentmesh-demo-${name}`;
    this.#prefix = `agentmesh-demo:${name}:`;
    this.#ctx = ctx;
    this.tap = new RelayTap(name);
    this.tap.onEvent(() => ctx.changed());
    this.root = this.#build();
    addEventListener('storage', (e) => {
      if (e.key?.startsWith(this.#prefix)) this.renderLog();
    });
  }

  get threshold(): number {
    const v = Number(localStorage.getItem(`${this.#prefix}threshold`));
    return localStorage.getItem(`${this.#prefix}threshold`) !== null && Number.isFinite(v) ? v : DEFAULT_THRESHOLD;
  }

  get title(): string {
    return this.name[0]!.toUpperCase() + this.name.slice(1);
  }

  // ── lifecycle ───────────────────────────────────────────────────────────────────────────────

  async start(): Promise<void> {
    this.status = 'starting';
    this.#ctx.changed();
    this.store ??= await IndexedDBAgentStore.open({ name: this.dbName });
    const agent = await MeshAgent.create({
      registryUrl: this.#ctx.workerUrl,
      store: this.store,
      capabilities: ['demo-chat'],
      metadata: { name: this.name },
      minTrustScore: this.threshold,
      webSocket: this.tap.factory,
    });
    this.agent = agent;
    this.did = agent.did;
    agent.onMessage((from, plaintext, info) => this.#onMessage(from, plaintext, info.id));
    agent.onRejected((r) => void this.#onRejected(r));
    agent.relay.onEvent((e) => {
      if (e.type === 'state' && this.agent === agent) {
        this.status = e.state;
        this.renderFacts();
      }
    });
    this.status = agent.relay.state;
    await this.refreshScore();
    await this.refreshSessions();
    this.renderFacts();
    this.renderPeers();
    this.renderLog();
  }

  async stop(): Promise<void> {
    const agent = this.agent;
    this.agent = null;
    await agent?.close();
  }

  /** Applies a new threshold: the agent restarts with it (sessions stay: they are in IndexedDB). */
  async setThreshold(value: number): Promise<void> {
    localStorage.setItem(`${this.#prefix}threshold`, String(value));
    try {
      await this.stop();
      await this.start();
      this.#log({ kind: 'info', text: `Minimum trust score set to ${value}: new peers must score at least ${value}. Sessions ${this.title} already has are kept.` });
    } catch (error) {
      this.status = `failed to restart: ${(error as Error)?.message ?? String(error)}`;
      this.renderFacts();
      this.#log({ kind: 'error', text: `Could not restart with the new threshold: ${(error as Error)?.message ?? String(error)}` });
    }
  }

  async refreshScore(): Promise<void> {
    if (!this.agent) return;
    try {
      this.score = (await this.agent.registry.getAgent(this.did))?.trustScore ?? null;
    } catch {
      this.score = null;
    }
    this.renderFacts();
  }

  /**
   * One step to see a refusal: every new agent scores ${NEW_AGENT_SCORE}, so raise this agent's bar
   * above that and have a newcomer (a throwaway agent, kept in memory) write to it.
   */
  async demonstrateRefusal(): Promise<void> {
    if (this.threshold <= NEW_AGENT_SCORE) await this.setThreshold(REFUSAL_THRESHOLD);
    const newcomer = await MeshAgent.create({ registryUrl: this.#ctx.workerUrl, store: new MemoryAgentStore(), metadata: { name: 'newcomer' } });
    this.#ctx.name(newcomer.did, 'Newcomer');
    try {
      await newcomer.send(this.did, `hello ${this.name}, I am new here`);
      this.#log({ kind: 'info', peer: newcomer.did, text: `Newcomer got through: its score is at least ${this.threshold}.` });
    } catch (error) {
      if (error instanceof TrustError && error.reason === 'peer_refused') {
        const score = (await this.agent?.registry.getAgent(newcomer.did).catch(() => null))?.trustScore ?? NEW_AGENT_SCORE;
        const text = `${this.title} refused a session from Newcomer: Newcomer's trust score is ${score}, below the ${this.threshold} ${this.title} requires of new peers. Newcomer was told so.`;
        this.#log({ kind: 'refused', peer: newcomer.did, text: `${text} (insufficient_trust)`, reason: 'insufficient_trust' });
        this.#showRefusal(text, 'insufficient_trust');
      } else {
        this.#reportFailure(newcomer.did, error, 'outgoing');
      }
    } finally {
      await newcomer.close();
    }
  }

  // ── messaging ───────────────────────────────────────────────────────────────────────────────

  async send(to: string, text: string): Promise<string | null> {
    const agent = this.agent;
    if (!agent) throw new Error(`${this.name} is not running`);
    try {
      await this.#ctx.wakeEdge(to);
      const id = await agent.send(to, text);
      this.#log({ kind: 'sent', peer: to, text, frameId: id, sha: await sha256Hex(text) });
      this.#clearRefusal();
      await this.refreshSessions();
      return id;
    } catch (error) {
      this.#reportFailure(to, error, 'outgoing');
      await this.refreshSessions();
      return null;
    }
  }

  async forget(peer: string): Promise<void> {
    await this.agent?.sessions.deleteSession(peer);
    localStorage.removeItem(`${this.#prefix}dh:${peer}`);
    this.#log({ kind: 'info', peer, text: `Forgot the session with ${this.#ctx.label(peer)}: the next message runs the trust handshake and X3DH again.` });
    await this.refreshSessions();
  }

  /** Deletes this agent's database and page state, then reloads. */
  async reset(): Promise<void> {
    await this.stop();
    await this.store?.close();
    await new Promise<void>((resolve) => {
      const req = indexedDB.deleteDatabase(this.dbName);
      req.onsuccess = req.onerror = req.onblocked = () => resolve();
    });
    for (const key of Object.keys(localStorage)) if (key.startsWith(this.#prefix)) localStorage.removeItem(key);
    location.reload();
  }

  async #onMessage(from: string, plaintext: Uint8Array, frameId: string): Promise<void> {
    const text = fromUtf8(plaintext);
    const receipt = await this.#readReceipt(from, text);
    if (receipt) {
      this.#log({ kind: 'receipt', peer: from, text: receipt.text, frameId, reason: receipt.ok ? 'valid' : 'invalid' });
      void this.#ctx.wakeEdge(from);
    }
    else this.#log({ kind: 'received', peer: from, text, frameId });
    await this.refreshSessions();
  }

  async #onRejected(r: RejectedFrame): Promise<void> {
    // With two tabs of one agent, both get each frame; the tab that loses the race sees a replay.
    if (r.error.code === 'replayed_message' || r.error.code === 'replay') {
      await new Promise((resolve) => setTimeout(resolve, 400));
      if (this.log().some((e) => e.frameId === r.id && (e.kind === 'received' || e.kind === 'receipt'))) return;
    }
    this.#reportFailure(r.from, r.error, 'incoming', r.id);
    await this.refreshSessions();
  }

  #reportFailure(peer: string, error: unknown, direction: 'incoming' | 'outgoing', frameId?: string): void {
    const who = this.#ctx.label(peer);
    const me = this.title;
    if (error instanceof TrustError) {
      const text = this.#explainRefusal(error, who, direction);
      this.#log({ kind: 'refused', peer, text: `${text} (${error.reason}${error.peerReason ? `: ${error.peerReason}` : ''})`, reason: error.reason, frameId });
      this.#showRefusal(text, error.peerReason ? `${error.reason}: ${error.peerReason}` : error.reason);
    } else if (error instanceof AgentMeshError) {
      const text = direction === 'incoming'
        ? `${me} rejected a frame from ${who}: ${this.#names(error.message)}. The session is unchanged. (${error.code})`
        : `${me} could not send to ${who}: ${this.#names(error.message)} (${error.code})`;
      this.#log({ kind: direction === 'incoming' ? 'rejected' : 'error', peer, text, reason: error.code, frameId });
    } else {
      this.#log({ kind: 'error', peer, text: `${who}: ${this.#names((error as Error)?.message ?? String(error))}` });
    }
  }

  /** A refusal in a sentence, with names instead of DIDs and the numbers that decided it. */
  #explainRefusal(error: TrustError, who: string, direction: 'incoming' | 'outgoing'): string {
    const me = this.title;
    if (error.reason === 'peer_refused') {
      const why = error.peerReason === 'insufficient_trust' ? `${me}'s trust score is below what ${who} requires of new peers` : this.#names(error.peerReason ?? 'no reason given');
      return `${who} refused a session with ${me}: ${why}.`;
    }
    const scored = /scores (\d+), below the (\d+) required/.exec(error.message);
    if (error.reason === 'insufficient_trust' && scored) {
      return `${me} refused ${direction === 'incoming' ? 'a session from' : 'to open a session with'} ${who}: ${who}'s trust score is ${scored[1]}, below the ${scored[2]} ${me} requires of new peers.`;
    }
    return `${me} refused ${direction === 'incoming' ? 'a session from' : 'to open a session with'} ${who}: ${this.#names(error.message)}.`;
  }

  /** Replaces DIDs in a message with the names the page knows them by. */
  #names(text: string): string {
    return text.replace(DID_IN_TEXT, (did) => this.#ctx.label(did));
  }

  async #readReceipt(from: string, text: string): Promise<{ text: string; ok: boolean } | null> {
    let parsed: { agentmesh_receipt?: unknown; receipt?: Record<string, unknown>; signature?: unknown };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      return null;
    }
    if (parsed?.agentmesh_receipt !== 1 || typeof parsed.receipt !== 'object' || typeof parsed.signature !== 'string') return null;
    const r = parsed.receipt;
    const key = (await this.agent?.sessions.getSession(from))?.peerIdentityKeyEd ?? (await this.agent?.registry.getAgent(from))?.publicKey;
    let ok = false;
    try {
      ok = !!key && r.for === this.did && r.by === from &&
        (await AgentIdentity.verify(key, utf8(RECEIPT_CONTEXT + canonicalJson(r)), fromBase64Any(parsed.signature)));
    } catch {
      ok = false;
    }
    const original = this.log().find((e) => e.kind === 'sent' && e.sha === r.message_sha256);
    const what = original ? `“${original.text}”` : `a message (SHA-256 ${String(r.message_sha256).slice(0, 12)}…)`;
    return {
      ok,
      text: `${ok ? 'Signed receipt (signature valid)' : 'Receipt with a BAD signature'} #${String(r.seq)} for ${what}, by instance ${String(r.instance).slice(0, 8)}`,
    };
  }

  // ── sessions ────────────────────────────────────────────────────────────────────────────────

  async refreshSessions(): Promise<void> {
    const agent = this.agent;
    if (!agent) return;
    const views: SessionView[] = [];
    for (const peer of await agent.sessions.listSessions()) {
      const s = await agent.sessions.getSession(peer);
      if (!s) continue;
      const self = toHex(s.ratchet.dhPublicKey);
      const remote = s.ratchet.remoteDhPublicKey ? toHex(s.ratchet.remoteDhPublicKey) : null;
      views.push({
        peer,
        role: s.role,
        messageCount: s.messageCount,
        revision: s.revision,
        createdAt: s.createdAt,
        updatedAt: s.updatedAt,
        trust: s.trust,
        sendCount: s.ratchet.sendCount,
        receiveCount: s.ratchet.receiveCount,
        previousSendCount: s.ratchet.previousSendCount,
        dhPublicKey: self,
        remoteDhPublicKey: remote,
        skippedKeys: s.ratchet.skippedKeys,
        restored: s.createdAt < this.#ctx.loadedAt,
        dhSteps: this.#dhSteps(peer, self, remote),
      });
    }
    this.sessions = views;
    this.#ctx.changed();
  }

  /** Keeps the history of (our key, their key) pairs: each change is a DH ratchet step. */
  #dhSteps(peer: string, self: string, remote: string | null): DhStep[] {
    const key = `${this.#prefix}dh:${peer}`;
    let steps: DhStep[] = [];
    try {
      steps = JSON.parse(localStorage.getItem(key) ?? '[]') as DhStep[];
    } catch {
      steps = [];
    }
    const last = steps[steps.length - 1];
    if (!last || last.self !== self || last.remote !== remote) {
      steps.push({ self, remote, at: Date.now() });
      if (steps.length > 50) steps.shift();
      localStorage.setItem(key, JSON.stringify(steps));
    }
    return steps;
  }

  // ── log ─────────────────────────────────────────────────────────────────────────────────────

  /** The conversation as every tab of this agent logged it (each tab writes only its own key: no lost updates). */
  log(): LogEntry[] {
    const all: LogEntry[] = [];
    for (const key of Object.keys(localStorage)) {
      if (!key.startsWith(`${this.#prefix}log:`)) continue;
      try {
        all.push(...(JSON.parse(localStorage.getItem(key) ?? '[]') as LogEntry[]));
      } catch {
        // A damaged key: skip it.
      }
    }
    return all.sort((a, b) => a.at - b.at);
  }

  #log(entry: Omit<LogEntry, 'at' | 'tab'>): void {
    const key = `${this.#prefix}log:${this.#ctx.tab}`;
    let mine: LogEntry[] = [];
    try {
      mine = JSON.parse(localStorage.getItem(key) ?? '[]') as LogEntry[];
    } catch {
      mine = [];
    }
    mine.push({ ...entry, at: Date.now(), tab: this.#ctx.tab });
    while (mine.length > 300) mine.shift();
    localStorage.setItem(key, JSON.stringify(mine));
    this.renderLog();
    this.#ctx.changed();
  }

  #showRefusal(text: string, code: string): void {
    const el = this.#els.refusal!;
    el.replaceChildren(h('span', { class: 'label' }, 'Refused. '), text, h('span', { class: 'code' }, `code: ${code}`));
    el.hidden = false;
  }

  #clearRefusal(): void {
    this.#els.refusal!.hidden = true;
  }

  // ── UI ──────────────────────────────────────────────────────────────────────────────────────

  #build(): HTMLElement {
    const n = this.name;
    const e = this.#els;
    e.did = h('code', { id: `did-${n}`, class: 'did' }, '…');
    e.score = h('span', { id: `score-${n}` }, '…');
    e.relay = h('span', { id: `relay-${n}` }, '…');
    e.threshold = h('input', { id: `threshold-${n}`, type: 'number', min: 0, max: 1000, step: 1, value: String(this.threshold), inputMode: 'numeric' });
    e.refusal = h('p', { id: `refusal-${n}`, class: 'refusal', role: 'alert', hidden: true });
    e.to = h('select', { id: `to-${n}`, onchange: () => (this.#recipientChosen = true) });
    e.toDid = h('input', { id: `to-did-${n}`, type: 'text', class: 'did-input', placeholder: 'did:agentmesh:…', autocomplete: 'off', spellcheck: false });
    e.msg = h('input', { id: `msg-${n}`, type: 'text', required: true, autocomplete: 'off', maxLength: 2000 });
    e.log = h('ol', { id: `log-${n}`, class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': `${this.title}'s conversation` });
    const thresholdForm = h(
      'form',
      {
        class: 'threshold',
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          const v = Math.max(0, Math.min(1000, Math.round(Number((e.threshold as HTMLInputElement).value))));
          void this.setThreshold(v);
        },
      },
      h('label', { for: `threshold-${n}` }, 'Minimum trust score for new peers'),
      e.threshold,
      h('button', { type: 'submit', id: `apply-threshold-${n}` }, 'Apply'),
      ' ',
      h('button', { type: 'button', class: 'quiet', id: `show-refusal-${n}`, onclick: () => void this.demonstrateRefusal() }, 'Show a refusal'),
    );
    const thresholdNote = h(
      'p',
      { class: 'note' },
      `Every new agent scores ${NEW_AGENT_SCORE}. A higher minimum refuses new peers only: sessions ${this.title} already has are kept. “Show a refusal” sets ${REFUSAL_THRESHOLD} and has a newcomer write to ${this.title}.`,
    );
    const compose = h(
      'form',
      {
        class: 'compose',
        id: `compose-${n}`,
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          const to = (e.toDid as HTMLInputElement).value.trim() || (e.to as HTMLSelectElement).value;
          const text = (e.msg as HTMLInputElement).value;
          if (!to || !text) return;
          (e.msg as HTMLInputElement).value = '';
          void this.send(to, text);
        },
      },
      h('div', { class: 'row' }, h('label', { for: `to-${n}` }, 'To'), e.to, h('label', { for: `to-did-${n}` }, 'or DID'), e.toDid),
      h('div', { class: 'row' }, h('label', { for: `msg-${n}` }, 'Message'), e.msg, h('button', { type: 'submit', id: `send-${n}` }, 'Send encrypted')),
    );
    return h(
      'section',
      { class: 'agent panel', id: `agent-${n}`, 'aria-labelledby': `agent-${n}-h` },
      h('h2', { id: `agent-${n}-h` }, this.title,
        h('button', { type: 'button', class: 'quiet', onclick: () => void this.reset() }, `Reset ${this.title} (new identity)`)),
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, 'DID'),
        h('dd', {}, e.did),
        h('dt', {}, 'Trust score'),
        h('dd', {}, e.score),
        h('dt', {}, 'Relay'),
        h('dd', {}, e.relay),
        h('dt', {}, 'Stored in'),
        h('dd', {}, `IndexedDB “${this.dbName}”`),
      ),
      thresholdForm,
      thresholdNote,
      e.refusal,
      compose,
      e.log,
    );
  }

  renderFacts(): void {
    this.#els.did!.textContent = this.did || '…';
    this.#els.score!.textContent = this.score === null ? 'unknown' : `${this.score} / 1000 · accepts peers ≥ ${this.threshold}`;
    this.#els.relay!.textContent = this.status;
    (this.#els.threshold as HTMLInputElement).value = String(this.threshold);
  }

  renderPeers(): void {
    const select = this.#els.to as HTMLSelectElement;
    const current = select.value;
    const peers = this.#ctx.peers(this.did);
    select.replaceChildren(...peers.map(([label, did]) => h('option', { value: did, title: did }, `${label} (${shortDid(did)})`)));
    // Until the person picks, the first other agent in the page (the edge agent comes last).
    if (this.#recipientChosen && peers.some(([, did]) => did === current)) select.value = current;
    else if (peers.length) select.value = peers[0]![1];
  }

  renderLog(): void {
    const list = this.#els.log!;
    const entries = this.log().slice(-100);
    list.replaceChildren(
      ...entries.map((entry) => {
        const who = entry.peer ? this.#ctx.label(entry.peer) : '';
        // Words and plain arrows only: they render without an emoji font.
        const prefix = { sent: `→ ${who}`, received: `← ${who}`, receipt: `← ${who}`, refused: 'Refused:', rejected: 'Rejected:', error: 'Error:', info: 'Note:' }[entry.kind];
        return h('li', { class: `entry ${entry.kind}`, 'data-kind': entry.kind, 'data-frame': entry.frameId ?? '' },
          h('span', { class: 'meta' }, `${time(entry.at)} ${prefix}`), ' ', h('span', { class: 'text' }, entry.text));
      }),
    );
    list.scrollTop = list.scrollHeight;
  }
}
