import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');
const out = mkdtempSync(join(tmpdir(), 'agentmesh-build-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('package build', () => {
  it('compiles to plain ESM that Node imports without a bundler, through the exports map: root and protocol', () => {
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', join(out, 'dist')], {
      cwd: root,
      stdio: 'pipe',
    });
    symlinkSync(join(root, 'node_modules'), join(out, 'node_modules'));
    // The package's own name and exports map, so the script imports it as an application would.
    const { name, exports } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    writeFileSync(join(out, 'package.json'), JSON.stringify({ name, type: 'module', exports }));
    const script = `
      import * as sdk from 'agentmesh-e2e';
      import { createFrame, parseFrame } from 'agentmesh-e2e/protocol';
      const a = await sdk.AgentIdentity.generate(), b = await sdk.AgentIdentity.generate();
      const am = await sdk.X3DHKeyManager.fromEd25519Keys(a.secretKey, a.publicKey);
      const bm = await sdk.X3DHKeyManager.fromEd25519Keys(b.secretKey, b.publicKey);
      await bm.generateSignedPreKey();
      const [ac, est] = await sdk.SecureChannel.createSender(am, bm.getPublicBundle());
      const bc = await sdk.SecureChannel.createReceiver(bm, est);
      const text = sdk.fromUtf8(await bc.receive((await ac.send(sdk.utf8('built'))).serialize()));
      const frame = parseFrame(JSON.stringify(createFrame('heartbeat', 'relay', a.did)));
      console.log(JSON.stringify({ text, backend: sdk.getDefaultCryptoProvider().name, frame: frame.type, internal: 'checkJson' in sdk }));
    `;
    writeFileSync(join(out, 'smoke.mjs'), script);
    const result = JSON.parse(execFileSync(process.execPath, ['smoke.mjs'], { cwd: out, encoding: 'utf8' }));
    expect(result).toMatchObject({ text: 'built', frame: 'heartbeat', internal: false });
    // The `node` export condition of the root loads the node:crypto preset.
    expect(result.backend).toContain('node');
  });
});
