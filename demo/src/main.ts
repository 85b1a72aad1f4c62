import { installPageLog } from './page-log.js';
import { AgentPanel, type DemoContext } from './agent-panel.js';
import { batched, h, shortDid, shortKey, time } from './dom.js';
import { RelayTap, type TapEvent } from './relay-tap.js';

installPageLog();

interface EdgeInfo {
  did: string;
  instance: string;
  started_at: string;
  receipts: number;
  sessions: number;
  relay: string;
  restart_enabled: boolean;
}

const params = new URLSearchParams(location.search);
const statusEl = document.getElementById('status')!;
const loadedAt = Date.now();
const tab = Math.random().toString(36).slice(2, 8);

/** `?worker=` first, then the server's config.json (npm start), then this origin. */
async function resolveWorkerUrl(): Promise<string> {
  const fromQuery = params.get('worker');
  if (fromQuery) return fromQuery.replace(/\/+$/, '');
  try {
    const res = await fetch('./config.json', { cache: 'no-store' });
    if (res.ok) {
      const config = (await res.json()) as { workerUrl?: string };
      if (config.workerUrl) return config.workerUrl.replace(/\/+$/, '');
    }
  } catch {
    // No config: same origin.
  }
  return location.origin;
}

const names = (params.get('agents') ?? params.get('agent') ?? 'alice,bob')
  .split(',')
  .map((s) => s.trim().toLowerCase())
  .filter((s) => /^[a-z0-9-]{1,32}$/.test(s));

const panels = new Map<string, AgentPanel>();
let edge: EdgeInfo | null = null;
let workerUrl = '';
let showControl = false;
const named = new Map<string, string>();

function label(did: string): string {
  for (const p of panels.values()) if (p.did === did) return p.title;
  if (edge && did === edge.did) return 'Edge agent';
  return named.get(did) ?? `agent ${shortDid(did)}`;
}

const render = batched(async () => {
  renderRelay();
  renderSessions();
  renderEdge();
});

const ctx = (): DemoContext => ({
  workerUrl,
  tab,
  loadedAt,
  label,
  peers(exclude) {
    const out: [string, string][] = [];
    for (const p of panels.values()) if (p.did && p.did !== exclude) out.push([p.title, p.did]);
    if (edge) out.push(['Edge agent', edge.did]);
    return out;
  },
  name(did, name) {
    named.set(did, name);
  },
  async wakeEdge(did) {
    if (edge && did === edge.did) await refreshEdge();
  },
  changed: render,
});

async function refreshEdge(): Promise<void> {
  try {
    const res = await fetch(`${workerUrl}/v1/edge-agent`, { cache: 'no-store' });
    edge = res.ok ? ((await res.json()) as EdgeInfo) : null;
  } catch {
    edge = null;
  }
  render();
}

async function restartEdge(): Promise<void> {
  await fetch(`${workerUrl}/v1/edge-agent/restart`, { method: 'POST' });
  await refreshEdge();
}

// ── relay panel ───────────────────────────────────────────────────────────────────────────────

const framesEl = document.getElementById('frames')!;
const inboxEl = document.getElementById('inbox')!;

/** The frame as the relay has it, with long base64 fields cut for display. */
function display(frame: Record<string, unknown>): string {
  return JSON.stringify(
    frame,
    (key, value: unknown) => (typeof value === 'string' && value.length > 56 && key !== 'from' && key !== 'to' ? `${value.slice(0, 44)}… (${value.length} chars)` : value),
    2,
  );
}

function allFrames(): TapEvent[] {
  return [...panels.values()].flatMap((p) => p.tap.events).sort((a, b) => a.seq - b.seq);
}

function renderRelay(): void {
  const events = allFrames().filter((e) => showControl || !RelayTap.isControl(e.frame));
  framesEl.replaceChildren(
    ...events.slice(-80).reverse().map((e) => {
      const f = e.frame;
      const route = e.dir === 'up' ? `${label(String(f.from))} → relay → ${label(String(f.to))}` : `relay → ${label(String(f.to))} (from ${label(String(f.from))})`;
      const extras = [f.type === 'message' && f.x3dh ? 'X3DH establishment' : '', f.header ? `n=${(f.header as { n: number }).n} pn=${(f.header as { pn: number }).pn}` : '']
        .filter(Boolean)
        .join(' · ');
      return h(
        'li',
        { class: `frame ${e.dir}${e.tampered ? ' tampered' : ''}`, 'data-type': String(f.type) },
        h('details', {},
          h('summary', {},
            h('span', { class: 'dir', 'aria-label': e.dir === 'up' ? 'sent to the relay' : 'delivered by the relay' }, e.dir === 'up' ? '↑' : '↓'),
            ' ', h('strong', {}, String(f.type)), ` ${route}`, extras ? ` · ${extras}` : '',
            e.tampered ? h('span', { class: 'badge bad' }, ' tampered by the relay') : '',
            h('span', { class: 'meta' }, ` ${time(e.at)}`)),
          h('pre', {}, display(f))),
      );
    }),
  );
}

function buildRelayControls(): void {
  const controls = document.getElementById('relay-controls')!;
  const toggle = h('input', { type: 'checkbox', id: 'show-control', onchange: (ev: Event) => {
    showControl = (ev.target as HTMLInputElement).checked;
    render();
  } });
  controls.append(h('p', {}, toggle, h('label', { for: 'show-control' }, ' Show relay control frames (connect, ack)')));
  for (const p of panels.values()) {
    const box = h('input', { type: 'checkbox', id: `tamper-${p.name}`, onchange: (ev: Event) => {
      p.tap.tamperNext = (ev.target as HTMLInputElement).checked;
    } });
    p.tap.onEvent((e) => {
      if (e.tampered) box.checked = false;
    });
    const inbox = h('button', { type: 'button', id: `inbox-${p.name}`, onclick: async () => {
      if (!p.agent) return;
      const page = await p.agent.registry.fetchInbox({ limit: 20 });
      inboxEl.replaceChildren(h('h3', {}, `Frames the relay holds for ${p.title} (${page.frames.length})`),
        page.frames.length ? h('pre', {}, page.frames.map((f) => display(f)).join('\n')) : h('p', {}, 'None: every frame was delivered and acknowledged.'));
    } }, `What the relay holds for ${p.title}`);
    controls.append(h('p', {}, box, h('label', { for: `tamper-${p.name}` }, ` Play a malicious relay: flip a bit in the next message delivered to ${p.title}`), ' ', inbox));
  }
}

// ── session panel ─────────────────────────────────────────────────────────────────────────────

const sessionsEl = document.getElementById('session-list')!;

function renderSessions(): void {
  const blocks: HTMLElement[] = [];
  for (const p of panels.values()) {
    if (p.sessions.length === 0) {
      blocks.push(h('p', {}, `${p.title}: no sessions yet.`));
      continue;
    }
    for (const s of p.sessions) {
      const trust = s.trust as { score?: number; threshold?: number } | null;
      blocks.push(
        h('article', { class: 'session', id: `session-${p.name}-${s.peer.slice(-8)}`, 'data-agent': p.name, 'data-peer': s.peer },
          h('h3', {}, `${p.title} ↔ ${label(s.peer)}`, s.restored ? h('span', { class: 'badge' }, 'restored from IndexedDB') : ''),
          h('table', {},
            h('tbody', {},
              row('Role', s.role === 'initiator' ? 'initiator (ran X3DH)' : 'responder'),
              row('Established', new Date(s.createdAt).toLocaleString()),
              row('Messages (sent + received)', String(s.messageCount)),
              row('Sending chain: n / previous chain pn', `${s.sendCount} / ${s.previousSendCount}`),
              row('Receiving chain: n', String(s.receiveCount)),
              row('Skipped message keys held', String(s.skippedKeys)),
              row('Our ratchet key', shortKey(s.dhPublicKey)),
              row('Their ratchet key', shortKey(s.remoteDhPublicKey)),
              row('Trust when opened', trust ? `score ${trust.score} (needed ${trust.threshold})` : '—'),
              row('Store revision', String(s.revision)),
            )),
          h('details', {}, h('summary', {}, `DH ratchet steps seen (${s.dhSteps.length})`),
            h('ol', { class: 'steps' }, ...s.dhSteps.map((d) => h('li', {}, `${time(d.at)} ours ${shortKey(d.self)} · theirs ${shortKey(d.remote)}`)))),
          h('button', { type: 'button', class: 'quiet', onclick: () => void p.forget(s.peer) }, `Forget this session`),
        ),
      );
    }
  }
  sessionsEl.replaceChildren(...blocks);
}

function row(k: string, v: string): HTMLTableRowElement {
  return h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, v));
}

// ── edge panel ────────────────────────────────────────────────────────────────────────────────

let edgeShown = '';

function renderEdge(): void {
  const section = document.getElementById('edge')!;
  section.hidden = !edge;
  if (!edge) return;
  const e = edge;
  // Re-render only on change: keeps focus on the restart button and the DOM stable.
  const key = JSON.stringify(e);
  if (key === edgeShown) return;
  edgeShown = key;
  document.getElementById('edge-body')!.replaceChildren(
    h('p', {}, 'An agent hosted by a Durable Object: identity and sessions in Durable Object storage through the SDK. It answers every message with a receipt it signs — pick “Edge agent” in a “To” list.'),
    h('dl', { class: 'facts' },
      h('dt', {}, 'DID'), h('dd', {}, h('code', { id: 'edge-did' }, e.did)),
      h('dt', {}, 'Instance'), h('dd', { id: 'edge-instance' }, `${e.instance.slice(0, 8)} (started ${new Date(e.started_at).toLocaleTimeString()})`),
      h('dt', {}, 'Receipts issued'), h('dd', { id: 'edge-receipts' }, String(e.receipts))),
    e.restart_enabled
      ? h('button', { type: 'button', id: 'edge-restart', onclick: () => void restartEdge() }, 'Restart its Durable Object')
      : '',
  );
}

// ── start ─────────────────────────────────────────────────────────────────────────────────────

async function main(): Promise<void> {
  workerUrl = await resolveWorkerUrl();
  statusEl.textContent = `Connecting to the Worker at ${workerUrl}…`;
  const health = await fetch(`${workerUrl}/v1/health`).then((r) => r.ok, () => false);
  if (!health) throw new Error(`no AgentMesh Worker answers at ${workerUrl} (start one with npm start, or pass ?worker=<url>)`);
  await refreshEdge();
  const agentsEl = document.getElementById('agents')!;
  for (const name of names) {
    const panel = new AgentPanel(name, ctx());
    panels.set(name, panel);
    agentsEl.append(panel.root);
  }
  buildRelayControls();
  await Promise.all([...panels.values()].map((p) => p.start()));
  for (const p of panels.values()) p.renderPeers();
  statusEl.textContent = `Worker ${workerUrl} · ${[...panels.values()].map((p) => p.title).join(' and ')} ready${edge ? ' · edge agent online' : ''}`;
  document.body.dataset.ready = 'true';
  render();
}

// A page that goes away closes its agents at once: the relay then holds their frames for the next
// page instead of sending them to a socket nobody reads, and a page the browser keeps in its
// back/forward cache holds no socket, database connection or session lock. Brought back from that
// cache, the page starts over, as a reload would.
addEventListener('pagehide', () => {
  for (const p of panels.values()) void p.stop().then(() => p.store?.close());
});
addEventListener('pageshow', (event) => {
  if (event.persisted) location.reload();
});

/** What the end-to-end tests (and the curious, in the console) read. */
const demo = {
  ready: main(),
  panels,
  get workerUrl() {
    return workerUrl;
  },
  get edge() {
    return edge;
  },
  refreshEdge,
  restartEdge,
  frames: () => allFrames().map((e) => ({ agent: e.agent, dir: e.dir, tampered: !!e.tampered, frame: e.frame })),
  async snapshot() {
    for (const p of panels.values()) await p.refreshSessions();
    return {
      workerUrl,
      tab,
      edge,
      agents: Object.fromEntries(
        [...panels.values()].map((p) => [p.name, { did: p.did, score: p.score, threshold: p.threshold, status: p.status, log: p.log(), sessions: p.sessions }]),
      ),
      refusals: Object.fromEntries([...panels.values()].map((p) => [p.name, document.getElementById(`refusal-${p.name}`)?.hidden ? null : document.getElementById(`refusal-${p.name}`)?.textContent])),
    };
  },
};
(globalThis as unknown as { demo: typeof demo }).demo = demo;
demo.ready.catch((error: unknown) => {
  statusEl.textContent = `Failed to start: ${(error as Error)?.message ?? String(error)}`;
  statusEl.classList.add('failed');
  document.body.dataset.ready = 'failed';
});
