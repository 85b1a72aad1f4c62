// The end-to-end scenarios, written once against a small driver interface so that the same code
// runs under Playwright (Chromium, Firefox ESR) and under WebKitWebDriver (WebKitGTK):
//
//   driver.open(path, { context }) → page      (pages of one context share storage)
//   page.eval(fn, arg)  page.fill(sel, text)  page.click(sel)  page.reload()  page.shot(name)  page.close()
//
// Functions passed to page.eval run in the page: they must not close over anything.
import { searchState } from './env.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

/** Polls `fn(arg)` in the page until it returns something truthy. */
export async function waitFor(page, fn, arg, { timeout = 30_000, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await page.eval(fn, arg);
      if (last) return last;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(150);
  }
}

async function ready(page) {
  const state = await waitFor(page, () => document.body.dataset.ready, null, { timeout: 60_000, what: 'the demo to start' });
  if (state !== 'true') throw new Error(`the demo failed to start: ${await page.eval(() => document.getElementById('status').textContent)}`);
}

const didOf = (page, name) => page.eval((n) => globalThis.demo.panels.get(n).did, name);
const log = (page, name) => page.eval((n) => globalThis.demo.panels.get(n).log(), name);
const frames = (page) => page.eval(() => globalThis.demo.frames());
const sessions = (page, name) => page.eval(async (n) => {
  const p = globalThis.demo.panels.get(n);
  await p.refreshSessions();
  return p.sessions;
}, name);

/** Sends through the form, as a person would. */
async function send(page, from, toDid, text) {
  await page.fill(`#to-did-${from}`, toDid);
  await page.fill(`#msg-${from}`, text);
  await page.click(`#send-${from}`);
}

function waitLog(page, name, kind, text, timeout = 30_000) {
  return waitFor(
    page,
    (a) => globalThis.demo.panels.get(a.name).log().find((e) => e.kind === a.kind && (a.text === null || e.text === a.text || e.text.includes(a.text))),
    { name, kind, text: text ?? null },
    { timeout, what: `${name} to log ${kind}${text ? ` "${text}"` : ''}` },
  );
}

async function noFailures(page, name) {
  const bad = (await log(page, name)).filter((e) => ['rejected', 'error', 'refused'].includes(e.kind));
  assert(bad.length === 0, `${name} logged failures: ${JSON.stringify(bad)}`);
}

/** Opens a page with both agents, and a session between them (a → b, then b → a). */
async function pair(driver, a, b, options = {}) {
  const page = await driver.open(`?agents=${a},${b}`, options);
  await ready(page);
  const [aDid, bDid] = [await didOf(page, a), await didOf(page, b)];
  await send(page, a, bDid, `hello ${b}`);
  await waitLog(page, b, 'received', `hello ${b}`);
  await send(page, b, aDid, `hello ${a}`);
  await waitLog(page, a, 'received', `hello ${a}`);
  return { page, aDid, bDid };
}

export const scenarios = [
  {
    id: 1,
    title: 'two agents in two browser contexts exchange messages both ways through the relay',
    async run(driver) {
      const A = await driver.open('?agents=alice', { context: 'one' });
      const B = await driver.open('?agents=bob', { context: 'two' });
      await ready(A);
      await ready(B);
      const [aDid, bDid] = [await didOf(A, 'alice'), await didOf(B, 'bob')];
      assert(aDid !== bDid && aDid.startsWith('did:agentmesh:'), 'two DIDs');
      await send(A, 'alice', bDid, 'Hello Bob, this is Alice in another browser context');
      await waitLog(B, 'bob', 'received', 'Hello Bob, this is Alice in another browser context');
      await send(B, 'bob', aDid, 'Hi Alice, Bob here');
      await waitLog(A, 'alice', 'received', 'Hi Alice, Bob here');
      await send(A, 'alice', bDid, 'A second message, on the ratchet');
      await waitLog(B, 'bob', 'received', 'A second message, on the ratchet');
      await noFailures(A, 'alice');
      await noFailures(B, 'bob');
      const [s] = await sessions(B, 'bob');
      assert(s && s.peer === aDid && s.receiveCount >= 1, 'bob holds a session with alice');
      await A.shot('1-alice');
      await B.shot('1-bob');
    },
  },
  {
    id: 2,
    title: 'a reload mid-conversation continues the session without a new handshake',
    async run(driver) {
      const { page, aDid, bDid } = await pair(driver, 'carol', 'dave');
      const before = { carol: await sessions(page, 'carol'), dave: await sessions(page, 'dave') };
      // A message still on its way when the page goes away: it waits at the relay until acknowledged.
      await send(page, 'dave', aDid, 'sent just before the reload');
      await waitLog(page, 'dave', 'sent', 'sent just before the reload');
      await page.reload();
      await ready(page);
      await waitLog(page, 'carol', 'received', 'sent just before the reload');
      await send(page, 'carol', bDid, 'after the reload, carol');
      await waitLog(page, 'dave', 'received', 'after the reload, carol');
      await send(page, 'dave', aDid, 'after the reload, dave');
      await waitLog(page, 'carol', 'received', 'after the reload, dave');
      const after = { carol: await sessions(page, 'carol'), dave: await sessions(page, 'dave') };
      for (const who of ['carol', 'dave']) {
        assert(after[who].length === 1 && before[who].length === 1, `${who} has one session`);
        assert(after[who][0].createdAt === before[who][0].createdAt, `${who}'s session is the one from before the reload`);
        assert(after[who][0].restored, `${who}'s session is shown as restored from IndexedDB`);
        assert(after[who][0].messageCount > before[who][0].messageCount, `${who}'s counters moved on`);
      }
      const wire = await frames(page);
      assert(!wire.some((f) => String(f.frame.type).startsWith('trust_')), 'no trust handshake after the reload');
      assert(!wire.some((f) => f.frame.type === 'message' && f.frame.x3dh), 'no X3DH establishment after the reload');
      const got = (await log(page, 'carol')).filter((e) => e.kind === 'received' && e.text === 'sent just before the reload');
      assert(got.length === 1, 'the in-flight message arrived exactly once');
      await noFailures(page, 'carol');
      await noFailures(page, 'dave');
      await page.shot('2-after-reload');
    },
  },
  {
    id: 3,
    title: 'two tabs of the same agent both send: no forked ratchet, the peer decrypts every message',
    async run(driver) {
      const peer = await driver.open('?agents=frank', { context: 'erin' });
      const tab1 = await driver.open('?agents=erin', { context: 'erin' });
      await ready(peer);
      await ready(tab1);
      const [eDid, fDid] = [await didOf(tab1, 'erin'), await didOf(peer, 'frank')];
      await send(tab1, 'erin', fDid, 'opening from tab 1');
      await waitLog(peer, 'frank', 'received', 'opening from tab 1');
      await send(peer, 'frank', eDid, 'welcome erin');
      await waitLog(tab1, 'erin', 'received', 'welcome erin');
      const tab2 = await driver.open('?agents=erin', { context: 'erin' });
      await ready(tab2);
      assert((await didOf(tab2, 'erin')) === eDid, 'both tabs are the same agent');
      // Both tabs send at once, several messages each, without waiting for one another.
      const start = (page, tab) => page.eval((a) => {
        const p = globalThis.demo.panels.get('erin');
        globalThis.__sends = Promise.all([0, 1, 2, 3].map((i) => p.send(a.to, `tab ${a.tab} message ${i}`)));
        return true;
      }, { to: fDid, tab });
      await start(tab1, 1);
      await start(tab2, 2);
      const expected = [1, 2].flatMap((t) => [0, 1, 2, 3].map((i) => `tab ${t} message ${i}`));
      await waitFor(peer, (want) => {
        const got = new Set(globalThis.demo.panels.get('frank').log().filter((e) => e.kind === 'received').map((e) => e.text));
        return want.every((w) => got.has(w));
      }, expected, { timeout: 45_000, what: 'frank to decrypt all eight messages' });
      await noFailures(peer, 'frank');
      const sent = await tab1.eval(() => globalThis.demo.panels.get('erin').log().filter((e) => e.kind === 'sent').length);
      assert(sent === 9, `erin logged 9 sent messages across both tabs (got ${sent})`);
      const [fs] = await sessions(peer, 'frank');
      assert(fs.messageCount === 10, `frank's session counted 10 messages (got ${fs.messageCount})`);
      await send(peer, 'frank', eDid, 'got all eight');
      await waitLog(tab1, 'erin', 'received', 'got all eight');
      await noFailures(tab1, 'erin');
      await tab1.shot('3-erin-tab1');
      await peer.shot('3-frank');
    },
  },
  {
    id: 4,
    title: 'the plaintext never appears in anything the relay stores or forwards',
    async run(driver, env) {
      const tag = Math.random().toString(36).slice(2, 10);
      const secrets = [`gina-to-hal-${tag}`, `hal-to-gina-${tag}`, `gina-to-edge-${tag}`, `while-hal-is-away-${tag}`];
      const G = await driver.open('?agents=gina', { context: 'gina' });
      let H = await driver.open('?agents=hal', { context: 'hal' });
      await ready(G);
      await ready(H);
      const [gDid, hDid] = [await didOf(G, 'gina'), await didOf(H, 'hal')];
      const edgeDid = await G.eval(() => globalThis.demo.edge?.did);
      assert(edgeDid, 'the edge agent is running');
      await send(G, 'gina', hDid, secrets[0]);
      await waitLog(H, 'hal', 'received', secrets[0]);
      await send(H, 'hal', gDid, secrets[1]);
      await waitLog(G, 'gina', 'received', secrets[1]);
      await send(G, 'gina', edgeDid, secrets[2]);
      await waitLog(G, 'gina', 'receipt', 'Signed receipt');
      // Hal goes away; the next message is stored by the relay until he comes back.
      const halFrames = await frames(H);
      await H.close();
      await send(G, 'gina', hDid, secrets[3]);
      await waitLog(G, 'gina', 'sent', secrets[3]);
      await sleep(1500);
      const stored = searchState(env.persistTo, secrets);
      assert(stored.length === 0, `plaintext found in the relay's storage: ${JSON.stringify(stored)}`);
      H = await driver.open('?agents=hal', { context: 'hal' });
      await ready(H);
      await waitLog(H, 'hal', 'received', secrets[3]);
      const wire = JSON.stringify([await frames(G), halFrames, await frames(H)]);
      assert(wire.includes('"ciphertext"'), 'the frames were captured');
      for (const s of secrets) {
        assert(!wire.includes(s), `plaintext "${s}" in a relay frame`);
        assert(!wire.includes(Buffer.from(s).toString('base64').slice(0, 16)), `base64 of "${s}" in a relay frame`);
        assert(!wire.includes(Buffer.from(s).toString('base64url').slice(0, 16)), `base64url of "${s}" in a relay frame`);
      }
      const storedAfter = searchState(env.persistTo, secrets);
      assert(storedAfter.length === 0, `plaintext found in the relay's storage: ${JSON.stringify(storedAfter)}`);
      await G.shot('4-gina');
    },
  },
  {
    id: 5,
    title: 'a frame tampered with at the relay is rejected and the conversation goes on',
    async run(driver) {
      const { page, aDid, bDid } = await pair(driver, 'ivan', 'judy');
      await page.click('#tamper-judy');
      await send(page, 'ivan', bDid, 'this one is altered on the way');
      const rejected = await waitLog(page, 'judy', 'rejected', null);
      assert(rejected.reason === 'authentication_failed', `rejected as unauthentic (got ${rejected.reason})`);
      const tampered = (await frames(page)).filter((f) => f.tampered);
      assert(tampered.length === 1, 'exactly one frame was tampered with');
      await send(page, 'ivan', bDid, 'and this one is not');
      await waitLog(page, 'judy', 'received', 'and this one is not');
      await send(page, 'judy', aDid, 'still here, ivan');
      await waitLog(page, 'ivan', 'received', 'still here, ivan');
      const judy = await log(page, 'judy');
      assert(!judy.some((e) => e.kind === 'received' && e.text.includes('altered')), 'the altered message was never shown');
      await page.shot('5-tampered');
    },
  },
  {
    id: 6,
    title: 'a peer below the trust threshold is refused and the page says why',
    async run(driver) {
      const page = await driver.open('?agents=kim,lee');
      await ready(page);
      const [kDid, lDid] = [await didOf(page, 'kim'), await didOf(page, 'lee')];
      // The first screen: the other agent is the default recipient, named, with the part of its DID that differs.
      const to = await page.eval(() => {
        const sel = document.getElementById('to-kim');
        return { value: sel.value, text: sel.selectedOptions[0]?.textContent ?? '' };
      });
      assert(to.value === lDid, `kim writes to lee by default (got ${to.value})`);
      assert(to.text.startsWith('Lee (') && to.text.includes(lDid.slice(-4)), `the "To" list names lee and her DID's end: ${to.text}`);
      const fold = await page.eval(() => ({
        width: innerWidth,
        tops: ['agent-kim', 'agent-lee', 'relay', 'sessions'].map((id) => Math.round(document.getElementById(id).getBoundingClientRect().top)),
      }));
      if (fold.width >= 1300) assert(fold.tops.every((t) => t < 900), `agents, relay and sessions start on the first screen at 1400×900: ${JSON.stringify(fold)}`);
      await page.fill('#threshold-lee', '600');
      await page.click('#apply-threshold-lee');
      await waitFor(page, () => {
        const p = globalThis.demo.panels.get('lee');
        return p.threshold === 600 && p.agent && p.status === 'open';
      }, null, { what: 'lee to restart with threshold 600' });
      // Lee asks for 600; Kim, a new agent, scores 500.
      await send(page, 'lee', kDid, 'may I talk to you?');
      const refused = await waitLog(page, 'lee', 'refused', null);
      assert(refused.reason === 'insufficient_trust', `lee refuses kim for insufficient trust (got ${refused.reason})`);
      const alert = await page.eval(() => {
        const el = document.getElementById('refusal-lee');
        return el && !el.hidden ? el.textContent : null;
      });
      assert(alert && alert.includes('insufficient_trust') && alert.includes('below the 600'), `the page says why: ${alert}`);
      // The other way: Kim is refused by Lee, and is told so.
      await send(page, 'kim', lDid, 'hello lee');
      const told = await waitLog(page, 'kim', 'refused', null);
      assert(told.reason === 'peer_refused' && told.text.includes('insufficient_trust'), `kim is told lee refused: ${told.text}`);
      const leeGot = (await log(page, 'lee')).filter((e) => e.kind === 'received');
      assert(leeGot.length === 0, 'nothing reached lee');
      assert((await sessions(page, 'kim')).length === 0 && (await sessions(page, 'lee')).length === 0, 'no session was opened');
      const glyphs = await page.eval(() => document.querySelector('main').textContent.match(/[\u{1F000}-\u{1FFFF}\u{2600}-\u{26FF}]/gu));
      assert(!glyphs, `nothing that needs an emoji font: ${JSON.stringify(glyphs)}`);
      // One step shows a refusal: kim's bar goes to 600 and a newcomer (scoring 500) writes to her.
      await page.click('#show-refusal-kim');
      const shown = await waitFor(page, () => {
        const el = document.getElementById('refusal-kim');
        return el && !el.hidden && el.textContent.includes('Newcomer') ? el.textContent : null;
      }, null, { what: "kim's refusal of a newcomer" });
      assert(shown.includes('Kim refused a session from Newcomer') && shown.includes('below the 600'), `the refusal says who, why and the numbers: ${shown}`);
      assert(!/did:agentmesh:/.test(shown), `names, not raw DIDs: ${shown}`);
      await page.shot('6-refused');
    },
  },
  {
    id: 7,
    title: "the SDK's IndexedDB, Web Locks and session tests pass in this browser",
    async run(driver) {
      const page = await driver.open('_tests/');
      const done = await waitFor(page, () => document.body.dataset.done, null, { timeout: 150_000, what: 'the in-browser tests' });
      assert(done === 'true', `the test page failed: ${await page.eval(() => document.getElementById('status').textContent)}`);
      const { results } = await page.eval(() => globalThis.browserTests);
      const failed = results.filter((r) => r.status === 'failed');
      const skipped = results.filter((r) => r.status === 'skipped');
      await page.shot('7-sdk-tests');
      assert(results.length >= 50, `ran ${results.length} tests`);
      assert(failed.length === 0, `${failed.length} of ${results.length} failed:\n${failed.map((f) => `  ${f.file} › ${f.name}: ${f.error}`).join('\n')}`);
      assert(skipped.length <= 1, `skipped: ${JSON.stringify(skipped)}`);
      const readme = results.filter((r) => r.file === 'README.md' && r.name.includes('runs as written'));
      assert(readme.length > 0 && readme.every((r) => r.status === 'passed'), `README.md's browser blocks ran: ${JSON.stringify(readme)}`);
      return { passed: results.length - failed.length - skipped.length, skipped: skipped.map((r) => `${r.name}: ${r.error}`), total: results.length };
    },
  },
  {
    id: 8,
    title: "a browser agent and the edge agent converse; the edge agent's Durable Object restarts mid-conversation and the session continues",
    async run(driver) {
      const page = await driver.open('?agents=mia');
      await ready(page);
      const edge = await page.eval(() => globalThis.demo.edge);
      assert(edge && edge.did, 'the edge agent answers');
      await send(page, 'mia', edge.did, 'first message to the edge');
      await waitLog(page, 'mia', 'receipt', '#');
      const [before] = await sessions(page, 'mia');
      assert(before && before.peer === edge.did, 'mia has a session with the edge agent');
      const handshakes = (await frames(page)).filter((f) => String(f.frame.type).startsWith('trust_')).length;
      await page.click('#edge-restart');
      await waitFor(page, (old) => globalThis.demo.edge && globalThis.demo.edge.instance !== old, edge.instance, { what: 'a new edge agent instance' });
      const restarted = await page.eval(() => globalThis.demo.edge);
      await send(page, 'mia', edge.did, 'second message, after the restart');
      await waitFor(page, () => globalThis.demo.panels.get('mia').log().filter((e) => e.kind === 'receipt').length >= 2, null, { what: 'a second receipt' });
      await send(page, 'mia', edge.did, 'third message');
      await waitFor(page, () => globalThis.demo.panels.get('mia').log().filter((e) => e.kind === 'receipt').length >= 3, null, { what: 'a third receipt' });
      const receipts = (await log(page, 'mia')).filter((e) => e.kind === 'receipt');
      assert(receipts.every((r) => r.reason === 'valid'), `every receipt's signature verifies: ${JSON.stringify(receipts)}`);
      assert(receipts[0].text.includes(edge.instance.slice(0, 8)), 'the first receipt comes from the first instance');
      assert(receipts[1].text.includes(restarted.instance.slice(0, 8)), 'the second receipt comes from the restarted instance');
      assert(receipts[1].text.includes('second message, after the restart'), 'the receipt is for the message sent');
      const [after] = await sessions(page, 'mia');
      assert(after.createdAt === before.createdAt, 'the same session, not a new one');
      assert(after.messageCount >= before.messageCount + 4, 'the counters moved on');
      const handshakesAfter = (await frames(page)).filter((f) => String(f.frame.type).startsWith('trust_')).length;
      assert(handshakesAfter === handshakes, 'no new trust handshake after the restart');
      await noFailures(page, 'mia');
      await page.shot('8-edge-agent');
    },
  },
];
